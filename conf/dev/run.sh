#!/bin/sh
# make run: a local relay on 127.0.0.1:${PORT:-8025} with a fresh token.
# nginx -> relay-fcgi -> spool -> spoold -> the outbox stand-in (or the real
# sendmail when SENDMAIL=/usr/sbin/sendmail is given).  Everything lives
# under ./run (RUN=DIR elsewhere); Ctrl-C stops it all.
set -eu
top=$(pwd)
run=${RUN:-$top/run}
port=${PORT:-8025}
sender=${SENDER:-app@example.com}
sendmail=${SENDMAIL:-$top/conf/dev/outbox-sendmail $run/outbox}

mkdir -p "$run/outbox" "$run/nginx"
chmod 0700 "$run"
if [ ! -s "$run/token" ]; then
	umask 077
	"$top/cgi/relay-token" local "$sender" > "$run/token.new"
	sed -n 2p "$run/token.new" > "$run/tokens"
	sed -n 1p "$run/token.new" > "$run/token"
	rm -f "$run/token.new"
	umask 022
fi
token=$(cat "$run/token")
cat > "$run/relay.conf" <<CONF
spool = $run/spool
tokens = $run/tokens
message_id_domain = localhost.localdomain
sendmail = $sendmail
workers = 4
CONF
sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" \
    "$top/conf/dev/nginx.conf.in" > "$run/nginx/nginx.conf"

pids=""
cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped"
}
trap cleanup EXIT INT TERM

"$top/cgi/relay-fcgi" -d -c "$run/relay.conf" -s "$run/relay.sock" &
pids="$pids $!"
"$top/spoold/spoold" -d -c "$run/relay.conf" &
pids="$pids $!"
nginx -e "$run/nginx/error.log" -p "$run/nginx" -c "$run/nginx/nginx.conf" &
pids="$pids $!"
sleep 0.5

cat <<MSG

mail-relay is listening on http://127.0.0.1:$port  (logs: $run/nginx/, stderr)
caller "local" may send from $sender; messages are filed in $run/outbox/

Send one:

curl -sS -i http://127.0.0.1:$port/send \\
  -H 'Authorization: Bearer $token' \\
  -H 'Content-Type: application/json' \\
  -d '{"from":"$sender","to":"you@example.net","subject":"Hello","text":"It works."}'

Health: curl -sS http://127.0.0.1:$port/health
Queue:  spoold/spoolctl -c $run/relay.conf list
Ctrl-C stops everything.
MSG
wait
