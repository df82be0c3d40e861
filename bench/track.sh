#!/bin/sh
# bench/track.sh DIR: the trackd rows of the benchmark (bench/run.sh runs it
# as the "track" row; it also runs alone).  Prints KEY=VALUE lines:
#
#   foreign_*  trackd following BENCH_TRACK_LINES lines (default 100,000) of
#              Postfix's log appended by bench/log-writer as fast as it can,
#              one write(2) per line: the 81 lines of a real Postfix run
#              (tests/trackd/postfix-3.7-postlogd.log) over and over, none of
#              them the relay's (another message_id_domain), so every line is
#              parsed and each delivery line costs a queue id lookup, but
#              nothing is recorded: the parse and follow path alone.
#   record_*   the same for BENCH_TRACK_JOBS messages (default 1,000) that
#              are the relay's: per message the cleanup link, one delivery
#              line and qmgr's removed; each link and each outcome a spool
#              write through tmp/ and a rename, made durable by one
#              syncfs before each position save (at most one a second).
#              record_durable_secs: from the first write until track.pos
#              covers the last line (so every record before it is durable).
#   *_lps lines/s from the first write to the last line handled (the last
#   line is a relay link, whose log line marks the end); *_us CPU
#   microseconds trackd spent per line (/proc/PID/schedstat); rss_kb
#   trackd's peak RSS (VmHWM) after each part, anon_kb its own pages of it
#   (the rest are shared libraries' pages, libc's ~1.3 MB); idle_ns CPU
#   trackd used in 3 s of quiet afterwards.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
d=$1
nlines=${BENCH_TRACK_LINES:-100000}
njobs=${BENCH_TRACK_JOBS:-1000}
mkdir -p "$d" || exit 1
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
now() { date +%s.%N; }

# Waits (up to 120 s) for track.pos to cover the whole log.
wait_pos() {
	i=0
	until [ "$(sed -n 's/^offset //p' "$d/spool/track.pos" 2>/dev/null)" = \
	    "$(wc -c < "$d/mail.log")" ]; do
		i=$((i + 1))
		[ $i -gt 12000 ] && return 1
		sleep 0.01
	done
}

# Waits (up to 120 s) for trackd to log the link of queue id $1.
wait_link() {
	i=0
	until grep -q "qid=$1 queued by postfix" "$d/trackd.log"; do
		i=$((i + 1))
		[ $i -gt 12000 ] && return 1
		sleep 0.01
	done
}

cat > "$d/relay.conf" <<CONF
spool = $d/spool
tokens = $d/tokens
message_id_domain = bench.invalid
postfix_log = $d/mail.log
CONF
: > "$d/mail.log"
"$top/trackd/trackd" -d -c "$d/relay.conf" 2> "$d/trackd.log" &
tpid=$!
i=0
until grep -q started "$d/trackd.log"; do
	i=$((i + 1))
	[ $i -gt 200 ] && { echo "error=trackd did not start"; exit 1; }
	sleep 0.05
done
marker() {	# QID: a relay link, the last line of a run
	printf 'Dec 01 18:15:48 relay postfix/cleanup[1697]: %s: message-id=<18d2f6a1b2c3d-0123456789abcdef@bench.invalid>\n' "$1" \
	    >> "$d/mail.log"
}

# ---- foreign lines ----
c0=$(cpu_ns $tpid)
t0=$(now)
w=$("$top/bench/log-writer" -f "$d/mail.log" \
    -t "$top/tests/trackd/postfix-3.7-postlogd.log" -n "$nlines")
marker 4FFFFFFFFF1
wait_link 4FFFFFFFFF1 || { echo "error=trackd did not finish"; exit 1; }
t1=$(now)
c1=$(cpu_ns $tpid)
secs=$(elapsed "$t0" "$t1")
echo "foreign_lines=$nlines"
echo "foreign_secs=$secs"
echo "foreign_lps=$(awk -v n="$nlines" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
echo "foreign_us=$(awk -v n="$nlines" -v c="$((c1 - c0))" 'BEGIN { printf "%.2f", c / n / 1000 }')"
echo "writer_lps=$(printf '%s\n' "$w" | sed -n 's/.*rate=//p')"
echo "foreign_rss_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$tpid/status")"
echo "foreign_anon_kb=$(awk '/^RssAnon/ { print $2 }' "/proc/$tpid/status")"

# ---- quiet ----
sleep 1
a=$(cpu_ns $tpid)
sleep 3
echo "idle_ns=$(( $(cpu_ns $tpid) - a ))"

# ---- relay messages: every link and outcome recorded durably ----
"$top/bench/spool-fill" -d "$d/spool" -n "$njobs" >/dev/null || exit 1
n=0
for id in $(ls "$d/spool/pending"); do
	n=$((n + 1))
	q=$(printf '5%010X' $n)
	printf 'Dec 01 18:15:48 relay postfix/cleanup[1697]: %s: message-id=<%s@bench.invalid>\n' "$q" "$id"
	printf 'Dec 01 18:15:48 relay postfix/smtp[8470]: %s: to=<alice@example.net>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.03, delays=0.01/0.01/0/0.01, dsn=2.0.0, status=sent (250 2.0.0 Ok: kept)\n' "$q"
	printf 'Dec 01 18:15:48 relay postfix/qmgr[1657]: %s: removed\n' "$q"
done > "$d/record.tpl"
rl=$(wc -l < "$d/record.tpl")
c0=$(cpu_ns $tpid)
t0=$(now)
"$top/bench/log-writer" -f "$d/mail.log" -t "$d/record.tpl" -n "$rl" \
    >/dev/null
marker 4FFFFFFFFF2
wait_link 4FFFFFFFFF2 || { echo "error=trackd did not finish the records"; exit 1; }
t1=$(now)
c1=$(cpu_ns $tpid)
wait_pos || { echo "error=trackd did not save its position"; exit 1; }
t2=$(now)
secs=$(elapsed "$t0" "$t1")
nrec=$(grep -c ' status=delivered ' "$d/trackd.log")
echo "record_lines=$rl"
echo "record_jobs=$nrec"
echo "record_secs=$secs"
echo "record_lps=$(awk -v n="$rl" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
echo "record_mps=$(awk -v n="$nrec" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
echo "record_durable_secs=$(elapsed "$t0" "$t2")"
echo "record_us=$(awk -v n="$rl" -v c="$((c1 - c0))" 'BEGIN { printf "%.2f", c / n / 1000 }')"
echo "rss_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$tpid/status")"
echo "anon_kb=$(awk '/^RssAnon/ { print $2 }' "/proc/$tpid/status")"
kill $tpid
wait $tpid 2>/dev/null
