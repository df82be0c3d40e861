#!/bin/sh
# bench/run.sh: the mail-relay benchmark (`make bench`).  A few minutes.
#
# Builds the programs and the tools in bench/, starts everything on
# loopback in throw-away directories, and measures in one run:
#   - nginx `return 202`, no backend                     (nginx ceiling)
#   - nginx -> bench/fcgi-echo, reads the body, no disk  (FastCGI ceiling),
#     before and after:
#   - nginx -> relay-fcgi POST /send, spool on tmpfs     (CPU cost)
#   - the same body sent html-only (bench/send-html.lua): relay-fcgi
#     derives the text part, right after it; and bench/html2text-cost,
#     what the conversion costs one thread next to parse and build
#   - nginx -> bench/fcgi-echo -d, right after it: the same responder also
#     writing each body as durable-loop writes a job, on tmpfs
#   - nginx -> relay-fcgi GET /health
#   - nginx -> relay-fcgi POST /send, spool on the work filesystem (durable)
#   - nginx -> bench/fcgi-echo -d on the work filesystem, right after it
#     (FastCGI ceiling with the relay's disk work)
#   - bench/durable-loop (the spool's spool_enqueue alone) at the relay's
#     concurrency, before and after the durable /send and fcgi-echo -d
#     runs                                               (disk ceiling)
#   - nginx -> relay-fcgi POST /emails/batch of BENCH_BATCH (100) emails
#     of the same mail (bench/batch.lua), spool on the work filesystem,
#     between two durable /send runs: messages accepted per second
#     against single durable sends                       (batch row)
#   - serial posix_spawn of bench/noop-sendmail          (drain ceiling),
#     before and after:
#   - spoold draining a spool of 5,000 jobs into bench/noop-sendmail
#   - the durable /send again while spoold drains the same spool
#   - spoold draining 500 jobs into Postfix's sendmail (a private
#     instance) when Postfix is here
#   - trackd following Postfix's log as fast as bench/log-writer appends
#     to it, and recording the outcomes of relay messages (bench/track.sh)
# The rows that delete many files come last: on ext4 without a journal,
# creating and removing files is slower for about a minute after a mass
# delete (the clean-up of a previous run included), so leave a minute
# between runs.
# plus the RSS of every relay process (sampled during each run) and their
# CPU time while idle.  Prints one table and writes bench/RESULTS.md.
# Each ceiling is measured on both sides of the row it is compared with,
# and the ratio uses their mean: other work on the machine moves single
# figures a lot.
#
# Settings (environment):
#   BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_WRK_THREADS=2
#   BENCH_DRAIN_JOBS=5000 BENCH_POSTFIX_JOBS=500 BENCH_SPAWNS=3000
#   BENCH_DISK_DIR=/var/tmp (the work filesystem) BENCH_TMPFS_DIR=/dev/shm
#   BENCH_WORKERS= (relay-fcgi -n; empty: the configured default)
#   BENCH_RESULTS=bench/RESULTS.md (empty: do not write)
#   BENCH_TRACK_LINES=100000 BENCH_TRACK_JOBS=1000 (bench/track.sh)
#   BENCH_BATCH=100 (emails per POST /emails/batch)
#   BENCH_ROWS="nginx echo tmpfs html health durable batch mixed spawn
#     drain postfix track" (a
#     subset runs only those parts; RESULTS.md is then left alone)
# The benchmark never fails on a figure: it is not a test.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-64}
wthreads=${BENCH_WRK_THREADS:-2}
njobs=${BENCH_DRAIN_JOBS:-5000}
npfjobs=${BENCH_POSTFIX_JOBS:-500}
nspawn=${BENCH_SPAWNS:-3000}
diskbase=${BENCH_DISK_DIR:-/var/tmp}
tmpfsbase=${BENCH_TMPFS_DIR:-/dev/shm}
nworkers=${BENCH_WORKERS:-}
results=${BENCH_RESULTS-bench/RESULTS.md}
allrows="nginx echo tmpfs html health durable batch mixed spawn drain postfix track"
rows_wanted=${BENCH_ROWS:-$allrows}
[ "$rows_wanted" = "$allrows" ] || results=""
# The Makefile includes bench/bench.mk; without it, name both.
if grep -q "bench/bench.mk" Makefile; then mk="make -s"
else mk="make -s -f Makefile -f bench/bench.mk"; fi

say() { printf '%s\n' "$*" >&2; }
want() { case " $rows_wanted " in *" $1 "*) return 0;; esac; return 1; }
die() { say "bench: $*"; exit 1; }

# ---- build ------------------------------------------------------------
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v nginx >/dev/null || die "nginx is not installed"
$mk bench/fcgi-echo bench/durable-loop bench/noop-sendmail bench/spawn-loop \
    bench/log-writer ||
    die "cannot build the bench tools"
relay=1
if ! make -s all >/dev/null 2>&1 || ! $mk bench/spool-fill >/dev/null 2>&1
then
	say "bench: 'make all' fails: the relay rows are skipped"
	relay=0
fi

# ---- scratch directories, cleanup ---------------------------------------
load0=$(cut -d' ' -f1-3 /proc/loadavg)
w=$(mktemp -d "$diskbase/mail-relay-bench.XXXXXX") || die "mktemp $diskbase"
m=$(mktemp -d "$tmpfsbase/mail-relay-bench.XXXXXX") || die "mktemp $tmpfsbase"
chmod 0755 "$w" "$m"
pids=""
samplers=""
pfconf=""

cleanup() {
	trap - EXIT INT TERM
	for p in $samplers $pids; do kill "$p" 2>/dev/null; done
	if [ -n "$pfconf" ]; then
		postfix -c "$pfconf" stop >/dev/null 2>&1
		pf_wait_down
	fi
	wait 2>/dev/null
	rm -rf "$w" "$m"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
# Waits up to 10 s for a unix socket or a file to appear.
wait_path() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && return 1
		sleep 0.05
	done
}
free_ports() {
	/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
threads_of() { awk '/^Threads/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
# Samples a process's RSS every 0.2 s into a file, until killed.
rss_start() {
	( while [ -d "/proc/$1" ]; do rss_kb "$1"; sleep 0.2; done ) \
	    > "$w/rss.$1" 2>/dev/null &
	samplers="$samplers $!"
	eval "sampler_$1=$!"
}
# Stops the sampler; prints "max" RSS in MB (one decimal).
rss_stop() {
	eval "sp=\${sampler_$1:-}"
	[ -n "$sp" ] && kill "$sp" 2>/dev/null && wait "$sp" 2>/dev/null
	sort -n "$w/rss.$1" 2>/dev/null | tail -1 |
	    awk '{ printf "%.1f", $1 / 1024 }'
}
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
fmt() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + b) / 2 }'; }
# Percent of all CPUs busy over 2 s (before anything starts: other work).
cpu_busy() {
	a=$(head -1 /proc/stat)
	sleep 2
	b=$(head -1 /proc/stat)
	printf '%s\n%s\n' "$a" "$b" | awk '{ idle = $5 + $6; tot = 0
	    for (i = 2; i <= NF; i++) tot += $i
	    if (NR == 1) { i0 = idle; t0 = tot } else
	    printf "%.0f%%", 100 - 100 * (idle - i0) / (tot - t0) }'
}
busy0=$(cpu_busy)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else printf "-" }'; }

# ---- table --------------------------------------------------------------
rows="$w/rows"
: > "$rows"
# row PATH REQS P50 P99 ERRORS RSS NOTE
row() { printf '%s|%s|%s|%s|%s|%s|%s\n' "$@" >> "$rows"; }
# Runs wrk; sets $res to its BENCH line.  wrk_run NAME URL SCRIPT
wrk_run() {
	say "bench: $1 ($secs s, $conns connections)"
	BENCH_TOKEN=${token:-} wrk -t"$wthreads" -c"$conns" -d"${secs}s" \
	    -s "$top/bench/$3" "$2" > "$w/wrk.$1" 2>&1
	res=$(grep '^BENCH ' "$w/wrk.$1")
	if [ -z "$res" ]; then
		say "bench: wrk failed for $1:"
		cat "$w/wrk.$1" >&2
		res="BENCH rps=0 p50_ms=- p99_ms=- errors=- status_errors=-"
	fi
}
wrk_row() {	# NAME LABEL RSS NOTE
	row "$2" "$(fmt "$(field "$res" rps)")" "$(field "$res" p50_ms)" \
	    "$(field "$res" p99_ms)" \
	    "$(field "$res" errors)/$(field "$res" status_errors)" "$3" "$4"
}

# ---- nginx and the FastCGI ceiling --------------------------------------
sed -n 's/^wrk.body = \[\[\(.*\)\]\]$/\1/p' bench/send.lua > "$w/body.json"
set -- $(free_ports)
p202=$1 pecho=$2 pdisk=$3 ptmpfs=$4 pechodisk=$5 pechotmpfs=$6
mkdir -p "$w/nginx"
for d in body fastcgi proxy uwsgi scgi; do mkdir -p "$w/nginx/$d"; done
sed -e "s|@DIR@|$w/nginx|g" -e "s|@P202@|$p202|" -e "s|@PECHO@|$pecho|" \
    -e "s|@PDISK@|$pdisk|" -e "s|@PTMPFS@|$ptmpfs|" \
    -e "s|@PECHODISK@|$pechodisk|" -e "s|@PECHOTMPFS@|$pechotmpfs|" \
    bench/nginx.conf.in > "$w/nginx/nginx.conf"

if [ $relay = 1 ]; then
	# Two relays: spool on disk, spool on tmpfs.  Same config otherwise.
	"$top/cgi/relay-token" bench orders@example.org > "$w/token.out" ||
	    die "relay-token failed"
	token=$(sed -n 1p "$w/token.out")
	sed -n 2p "$w/token.out" > "$w/tokens"
	chmod 0600 "$w/tokens"
	for s in disk tmpfs; do
		if [ $s = disk ]; then sp=$w/spool-disk; else sp=$m/spool; fi
		cat > "$w/relay-$s.conf" <<-CONF
		spool = $sp
		tokens = $w/tokens
		message_id_domain = relay.test
		max_pending = 10000000
		sendmail = $top/bench/noop-sendmail
		CONF
		"$top/cgi/relay-fcgi" -d -c "$w/relay-$s.conf" \
		    -s "$w/nginx/relay-$s.sock" ${nworkers:+-n "$nworkers"} \
		    2> "$w/relay-$s.log" &
		pids="$pids $!"
		eval "relay_$s=$!"
		wait_path "$w/nginx/relay-$s.sock" ||
		    die "relay-fcgi ($s) did not start: $(cat "$w/relay-$s.log")"
	done
	# Workers = threads less the main one; the other programs use as many.
	nworkers=$(( $(threads_of "$relay_disk") - 1 ))
fi
: "${nworkers:=16}"

nginx -p "$w/nginx" -c "$w/nginx/nginx.conf" -e "$w/nginx/error.log" &
pids="$pids $!"
start_echo() {	# NAME [-d DIR]: fcgi-echo on $w/nginx/NAME.sock; sets $started
	n=$1
	shift
	"$top/bench/fcgi-echo" -s "$w/nginx/$n.sock" -n "$nworkers" "$@" \
	    2> "$w/$n.log" &
	started=$!
	pids="$pids $started"
	wait_path "$w/nginx/$n.sock" ||
	    die "fcgi-echo ($n) did not start: $(cat "$w/$n.log")"
}
start_echo echo
echo_pid=$started
# fcgi-echo -d: each body also written durably, as durable-loop does a job.
if [ $relay = 1 ] && want tmpfs; then
	start_echo echo-tmpfs -d "$m/echo-spool"
	echo_tmpfs_pid=$started
fi
if [ $relay = 1 ] && want durable; then
	start_echo echo-disk -d "$w/echo-spool"
	echo_disk_pid=$started
fi
wait_path "$w/nginx/nginx.pid" || die "nginx did not start"
sleep 0.3

if want nginx; then
	wrk_run nginx-202 "http://127.0.0.1:$p202/send" send.lua
	wrk_row nginx-202 "nginx \`return 202\`" - ""
fi

recho=0
# The FastCGI ceiling, before and (below) after the tmpfs /send row.
echo_row() {	# before|after
	rss_start "$echo_pid"
	wrk_run "fcgi-echo-$1" "http://127.0.0.1:$pecho/send" send.lua
	wrk_row "fcgi-echo-$1" \
	    "nginx -> fcgi-echo (no disk), $nworkers threads, $1" \
	    "$(rss_stop "$echo_pid")" ""
}
if want echo; then
	echo_row before
	recho=$(field "$res" rps)
fi
# The same responder writing each body durably: compared with /send on the
# same filesystem, measured right after it.
echo_durable_row() {	# tmpfs|disk PID PORT DIR
	rss_start "$2"
	wrk_run "fcgi-echo-$1" "http://127.0.0.1:$3/send" send.lua
	wrk_row "fcgi-echo-$1" "nginx -> fcgi-echo + durable write, spool on \
$(findmnt -no FSTYPE -T "$4" | head -1), $nworkers threads" \
	    "$(rss_stop "$2")" ""
}

# ---- the relay ----------------------------------------------------------
# One request through a relay: prints the HTTP status.
probe() {
	curl -s -o "$w/probe.out" -w '%{http_code}' -X POST \
	    -H "Authorization: Bearer $token" \
	    -H 'Content-Type: application/json' \
	    --data-binary @"$w/body.json" "http://127.0.0.1:$1/send"
}
start_spoold() {	# CONF LOG
	"$top/spoold/spoold" -d -c "$1" 2> "$2" &
	spoold_pid=$!
	pids="$pids $spoold_pid"
}
stop_pid() {
	kill "$1" 2>/dev/null
	i=0
	while [ -d "/proc/$1" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	wait "$1" 2>/dev/null
}
idle_ticks() {	# PID SECONDS: CPU ticks spent while idle
	a=$(cpu_ticks "$1")
	sleep "$2"
	b=$(cpu_ticks "$1")
	echo $((b - a))
}

rloop=0 rdisk=0 rtmpfs=0 p99disk=- rssfcgi=- rssspoold=- jobsize=2600
rechodisk=0 rechotmpfs=0
if [ $relay = 1 ]; then
	for port in $pdisk $ptmpfs; do
		st=$(probe "$port")
		[ "$st" = 202 ] || die "a /send probe got $st: $(cat "$w/probe.out")"
	done
	jobsize=$(find "$w/spool-disk/pending" -type f -exec stat -c %s {} + |
	    head -1)

fi
if [ $relay = 1 ] && want tmpfs; then
	rss_start "$relay_tmpfs"
	wrk_run send-tmpfs "http://127.0.0.1:$ptmpfs/send" send.lua
	wrk_row send-tmpfs "nginx -> relay-fcgi POST /send, spool on tmpfs" \
	    "$(rss_stop "$relay_tmpfs")" ""
	rtmpfs=$(field "$res" rps)
	echo_durable_row tmpfs "$echo_tmpfs_pid" "$pechotmpfs" "$m"
	rechotmpfs=$(field "$res" rps)
	if want echo; then
		echo_row after
		recho=$(mean "$recho" "$(field "$res" rps)")
	fi
fi
rhtml=0 h2tcost=""
if [ $relay = 1 ] && want html; then
	# html-only: the text part derived from the html (html_to_text = yes).
	rss_start "$relay_tmpfs"
	wrk_run send-tmpfs-html "http://127.0.0.1:$ptmpfs/send" send-html.lua
	wrk_row send-tmpfs-html "nginx -> relay-fcgi POST /send html only (text part derived), spool on tmpfs" \
	    "$(rss_stop "$relay_tmpfs")" ""
	rhtml=$(field "$res" rps)
	$mk bench/html2text-cost >/dev/null 2>&1 &&
	    h2tcost=$("$top/bench/html2text-cost" -f "$w/body.json" -n 20000)
fi
if [ $relay = 1 ] && want health; then
	# /health needs spoold (it reports whether spoold holds its lock).
	start_spoold "$w/relay-disk.conf" "$w/spoold-idle.log"
	sleep 1
	rss_start "$relay_disk"
	wrk_run health "http://127.0.0.1:$pdisk/health" get.lua
	wrk_row health "nginx -> relay-fcgi GET /health" \
	    "$(rss_stop "$relay_disk")" ""
	sleep 1
	a1=$(cpu_ticks "$relay_disk") a2=$(cpu_ticks "$spoold_pid")
	sleep 3
	fcgi_idle=$(( $(cpu_ticks "$relay_disk") - a1 ))
	spoold_idle=$(( $(cpu_ticks "$spoold_pid") - a2 ))
	spoold_idle_rss=$(rss_kb "$spoold_pid")
	stop_pid "$spoold_pid"
fi
if [ $relay = 1 ] && want durable; then
	# Durable: spool_enqueue alone (no HTTP) before and after, at the
	# relay's concurrency.
	say "bench: durable-loop warm-up"
	"$top/bench/durable-loop" -d "$w/loop0" -t "$nworkers" -s 3 -b "$jobsize" \
	    > /dev/null
	say "bench: durable-loop ($secs s, $nworkers threads)"
	l1=$("$top/bench/durable-loop" -d "$w/loop1" -t "$nworkers" -s "$secs" \
	    -b "$jobsize")
	rss_start "$relay_disk"
	wrk_run send-disk "http://127.0.0.1:$pdisk/send" send.lua
	rssfcgi=$(rss_stop "$relay_disk")
	wrk_row send-disk "nginx -> relay-fcgi POST /send, durable" \
	    "$rssfcgi" "spool on $(findmnt -no FSTYPE -T "$w")"
	rdisk=$(field "$res" rps)
	p99disk=$(field "$res" p99_ms)
	echo_durable_row disk "$echo_disk_pid" "$pechodisk" "$w"
	rechodisk=$(field "$res" rps)
	say "bench: durable-loop again ($secs s, $nworkers threads)"
	l2=$("$top/bench/durable-loop" -d "$w/loop2" -t "$nworkers" -s "$secs" \
	    -b "$jobsize")
	rloop=$(awk -v a="$(field "$l1" rate)" -v b="$(field "$l2" rate)" \
	    'BEGIN { print (a + b) / 2 }')
	row "durable-loop, $nworkers threads (no HTTP), before" \
	    "$(fmt "$(field "$l1" rate)")" "$(field "$l1" p50_ms)" \
	    "$(field "$l1" p99_ms)" "$(field "$l1" errors)" - ""
	row "durable-loop, $nworkers threads (no HTTP), after" \
	    "$(fmt "$(field "$l2" rate)")" "$(field "$l2" p50_ms)" \
	    "$(field "$l2" p99_ms)" "$(field "$l2" errors)" - ""
fi
# ---- batch ----------------------------------------------------------------
# POST /emails/batch against single durable /send, both on the disk relay
# in this run: /send right before and right after, the ratio against
# their mean.
nbatch=${BENCH_BATCH:-100}
rbatch=0 rbatchsend=0
if [ $relay = 1 ] && want batch; then
	wrk_run send-disk-b1 "http://127.0.0.1:$pdisk/send" send.lua
	s1=$(field "$res" rps)
	rss_start "$relay_disk"
	BENCH_BATCH=$nbatch wrk_run batch-disk "http://127.0.0.1:$pdisk/emails/batch" \
	    batch.lua
	brss=$(rss_stop "$relay_disk")
	rbatch=$(awk -v r="$(field "$res" rps)" -v n="$nbatch" \
	    'BEGIN { print r * n }')
	bres=$res
	# The jobs' own files are written back later (their batch files hold
	# them durably; spoold, stopped here, would sync them): that debt is
	# paid here, timed, and counted in a second figure.
	t0=$(now)
	sync
	bsync=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	rbatchw=$(awk -v q="$(field "$res" requests)" -v n="$nbatch" \
	    -v s="$(field "$res" secs)" -v w="$bsync" \
	    'BEGIN { print q * n / (s + w) }')
	wrk_run send-disk-b2 "http://127.0.0.1:$pdisk/send" send.lua
	s2=$(field "$res" rps)
	rbatchsend=$(mean "$s1" "$s2")
	res=$bres
	wrk_row batch-disk "nginx -> relay-fcgi POST /emails/batch, $nbatch emails, durable" \
	    "$brss" "$(fmt "$rbatch") messages/s; $(fmt "$rbatchw") with the \
write-back of the job files after the row (sync: $bsync s); durable /send \
before / after: $(fmt "$s1") / $(fmt "$s2") req/s; load \
$(cut -d' ' -f1-3 /proc/loadavg)"
fi
# ---- trackd ---------------------------------------------------------------
tk=""
kv() { printf '%s\n' "$tk" | sed -n "s/^$1=//p"; }
mb() { awk -v k="$1" 'BEGIN { if (k + 0 > 0) printf "%.1f", k / 1024; else printf "-" }'; }
if [ $relay = 1 ] && want track; then
	say "bench: trackd following ${BENCH_TRACK_LINES:-100000} log lines"
	tk=$(sh "$top/bench/track.sh" "$w/track")
	row "trackd following Postfix's log, foreign mail (parse only)" \
	    "$(kv foreign_lps)" - - 0 "$(mb "$(kv foreign_rss_kb)")" \
	    "lines/s, $(kv foreign_lines) lines in $(kv foreign_secs) s; \
$(kv foreign_us) us CPU per line; the writer alone $(kv writer_lps) lines/s"
	row "trackd recording relay outcomes" "$(kv record_lps)" - - \
	    "$(( $(kv record_jobs) - ${BENCH_TRACK_JOBS:-1000} ))" \
	    "$(mb "$(kv rss_kb)")" "lines/s; $(kv record_mps) messages/s \
(link + outcome: 2 spool writes each, one syncfs per position save), all \
durable after $(kv record_durable_secs) s; $(kv record_us) us CPU per line"
fi

# ---- drain ----------------------------------------------------------------
# Fills a spool with JOBS jobs, starts spoold on it and times it until
# pending/ and processing/ are empty.  Sets d_secs d_rate d_rss d_failed
# d_idle.  drain NAME SENDMAIL JOBS
drain() {
	d=$w/drain-$1
	d_secs=- d_rate=0 d_rss=- d_failed=- d_idle=-
	mkdir -p "$d"
	cat > "$d/relay.conf" <<-CONF
	spool = $d/spool
	tokens = $w/tokens
	message_id_domain = relay.test
	sendmail = $2
	sendmail_timeout = 60s
	CONF
	if ! "$top/bench/spool-fill" -d "$d/spool" -n "$3"; then
		say "bench: spool-fill failed"
		return
	fi
	t0=$(now)
	start_spoold "$d/relay.conf" "$d/spoold.log"
	rss_start "$spoold_pid"
	# find -quit reads one directory block, not the whole listing.
	while [ -n "$(find "$d/spool/pending" "$d/spool/processing" \
	    -mindepth 1 -print -quit)" ]; do
		if [ ! -d "/proc/$spoold_pid" ]; then
			say "bench: spoold exited: $(tail -3 "$d/spoold.log")"
			break
		fi
		sleep 0.1
	done
	t1=$(now)
	d_rss=$(rss_stop "$spoold_pid")
	[ -d "/proc/$spoold_pid" ] && d_idle=$(idle_ticks "$spoold_pid" 2)
	stop_pid "$spoold_pid"
	d_failed=$(ls "$d/spool/failed" | wc -l)
	[ "$d_failed" = 0 ] ||
	    say "bench: $d_failed jobs failed (see $d/spoold.log)"
	d_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	d_rate=$(awk -v s="$d_secs" -v n="$3" 'BEGIN { print n / s }')
}

pf_wait_down() {
	f=$pfdir/queue/pid/master.pid
	[ -s "$f" ] || return 0
	p=$(tr -d ' ' < "$f")
	i=0
	while [ -d "/proc/$p" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

# A private Postfix that discards everything it is given: the figure is
# sendmail + postdrop + pickup + cleanup + qmgr, no network.
postfix_up() {
	pfdir=$w/postfix
	mkdir -p "$pfdir/conf" "$pfdir/queue"
	cat > "$pfdir/conf/main.cf" <<-CF
	compatibility_level = 3.6
	queue_directory = $pfdir/queue
	data_directory = $pfdir/data
	mail_owner = postfix
	setgid_group = postdrop
	myhostname = bench.relay.test
	mydomain = relay.test
	myorigin = relay.test
	mydestination =
	inet_interfaces = loopback-only
	inet_protocols = ipv4
	default_transport = discard
	relay_transport = discard
	local_transport = discard
	maillog_file_prefixes = $pfdir
	maillog_file = $pfdir/maillog
	CF
	cat > "$pfdir/conf/master.cf" <<-'CF'
	pickup    unix  n       -       n       60      1       pickup
	cleanup   unix  n       -       n       -       0       cleanup
	qmgr      unix  n       -       n       300     1       qmgr
	rewrite   unix  -       -       n       -       -       trivial-rewrite
	bounce    unix  -       -       n       -       0       bounce
	defer     unix  -       -       n       -       0       bounce
	trace     unix  -       -       n       -       0       bounce
	verify    unix  -       -       n       -       1       verify
	flush     unix  n       -       n       1000?   0       flush
	proxymap  unix  -       -       n       -       -       proxymap
	showq     unix  n       -       n       -       -       showq
	error     unix  -       -       n       -       -       error
	retry     unix  -       -       n       -       -       error
	discard   unix  -       -       n       -       -       discard
	anvil     unix  -       -       n       -       1       anvil
	scache    unix  -       -       n       -       1       scache
	postlog   unix-dgram n  -       n       -       1       postlogd
	CF
	postfix -c "$pfdir/conf" check > "$pfdir/check.log" 2>&1 &&
	    postfix -c "$pfdir/conf" start > "$pfdir/start.log" 2>&1 ||
	    return 1
	pfconf=$pfdir/conf
}

# The serial spawn ceiling, before and (below) after the drain.
spawn_row() {	# before|after
	say "bench: posix_spawn ceiling ($nspawn spawns)"
	sp=$("$top/bench/spawn-loop" -n "$nspawn" -i "$w/job.in" \
	    "$top/bench/noop-sendmail" -oi -f orders@example.org -- \
	    alice@example.net bob@example.net audit@example.org)
	row "serial posix_spawn of noop-sendmail, $1" \
	    "$(fmt "$(field "$sp" rate)")" - - "$(field "$sp" failures)" - \
	    "ceiling of a serial drain"
}
rspawn=0
head -c "$jobsize" /dev/zero | tr '\0' 'x' > "$w/job.in"
if want spawn; then
	spawn_row before
	rspawn=$(field "$sp" rate)
fi

rdrain=0 pfnote=""
if [ $relay = 1 ] && want drain; then
	say "bench: spoold drain, $njobs jobs into noop-sendmail"
	drain noop "$top/bench/noop-sendmail" "$njobs"
	rdrain=$d_rate rssspoold=$d_rss drain_idle=$d_idle
	row "spoold drain into noop-sendmail" "$(fmt "$d_rate")" - - \
	    "$d_failed" "$d_rss" "$njobs jobs in $d_secs s"
	if want spawn; then
		spawn_row after
		rspawn=$(mean "$rspawn" "$(field "$sp" rate)")
	fi
fi
# After the drain: its unlinks slow file creation on ext4 without a
# journal for about a minute, so the rows before it must not follow one.
if [ $relay = 1 ] && want mixed; then
	# Production-like: spoold drains the same spool (into noop-sendmail)
	# while jobs arrive; deletes and creates share the filesystem.
	start_spoold "$w/relay-disk.conf" "$w/spoold-mixed.log"
	sleep 0.5
	wrk_run send-mixed "http://127.0.0.1:$pdisk/send" send.lua
	ndel=$(grep -c ' delivered ' "$w/spoold-mixed.log")
	stop_pid "$spoold_pid"
	mrate=$(awk -v n="$ndel" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
	wrk_row send-mixed \
	    "nginx -> relay-fcgi POST /send, durable, spoold draining" - \
	    "spoold delivered $mrate/s meanwhile"
fi

if [ $relay = 1 ] && want postfix; then
	if command -v postfix >/dev/null && [ -x /usr/sbin/sendmail ]; then
		if postfix_up; then
			say "bench: spoold drain, $npfjobs jobs into Postfix"
			drain postfix "/usr/sbin/sendmail -C $pfdir/conf" \
			    "$npfjobs"
			row "spoold drain into Postfix sendmail" \
			    "$(fmt "$d_rate")" - - "$d_failed" "$d_rss" \
			    "$npfjobs jobs in $d_secs s; private instance, \
discard transport"
			postfix -c "$pfconf" stop >/dev/null 2>&1
			pf_wait_down
			pfconf=""
		else
			pfnote="Postfix: skipped, the private instance did not \
start ($(cat "$pfdir/check.log" "$pfdir/start.log" 2>/dev/null | tr '\n' ' ' | cut -c1-200))"
		fi
	else
		pfnote="Postfix: skipped, not installed"
	fi
elif [ $relay = 0 ]; then
	pfnote="spoold drain: skipped, the relay does not build yet"
fi

# ---- report ---------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)
diskfs=$(findmnt -no SOURCE,FSTYPE,OPTIONS -T "$w" | head -1 | tr -s ' ')
tmpfsfs=$(findmnt -no FSTYPE -T "$m" | head -1)
date=$(date -u '+%Y-%m-%d %H:%M UTC')

table() {
	printf '| path | req/s | p50 ms | p99 ms | errors | RSS MB (max) | notes |\n'
	printf '|---|---:|---:|---:|---:|---:|---|\n'
	awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", \
	    $1, $2, $3, $4, $5, $6, $7 }' "$rows"
}
targets() {
	[ $relay = 1 ] || return 0
	printf '| target | figure | goal |\n|---|---:|---|\n'
	printf '| durable /send vs durable-loop (mean of before/after) | %s | >= 80%% |\n' \
	    "$(ratio "$rdisk" "$rloop")"
	printf '| durable /send, req/s | %s | >= 10,000 (2x a Node.js relay) |\n' \
	    "$(fmt "$rdisk")"
	printf '| durable /send p99 | %s ms | < 10 ms |\n' "$p99disk"
	[ "$rbatch" != 0 ] && printf '| durable /emails/batch (%s emails) messages/s vs durable /send req/s (before/after mean) | %s (%s vs %s); with the write-back %s (%s) | >= 300%% |\n' \
	    "$nbatch" "$(ratio "$rbatch" "$rbatchsend")" "$(fmt "$rbatch")" \
	    "$(fmt "$rbatchsend")" "$(ratio "$rbatchw" "$rbatchsend")" \
	    "$(fmt "$rbatchw")"
	printf '| durable /send vs fcgi-echo + durable write | %s | context |\n' \
	    "$(ratio "$rdisk" "$rechodisk")"
	printf '| tmpfs /send vs fcgi-echo (mean of before/after) | %s | >= 70%% |\n' \
	    "$(ratio "$rtmpfs" "$recho")"
	printf '| tmpfs /send vs fcgi-echo + tmpfs write | %s | context |\n' \
	    "$(ratio "$rtmpfs" "$rechotmpfs")"
	printf '| tmpfs /send html only (text derived) vs with its text | %s | context |\n' \
	    "$(ratio "$rhtml" "$rtmpfs")"
	[ -n "$h2tcost" ] && printf '| one thread: html to text / req_parse + mime_build of the body | %s / %s us (text part %s bytes) | a small part of a request |\n' \
	    "$(field "$h2tcost" convert_us)" "$(field "$h2tcost" parse_build_us)" \
	    "$(field "$h2tcost" text_bytes)"
	printf '| relay-fcgi RSS (whole process, %s workers), max under load | %s MB (%s MB per worker) | < 2 MB per worker |\n' \
	    "$nworkers" "$rssfcgi" "$(awk -v r="$rssfcgi" -v n="$nworkers" \
	    'BEGIN { if (r + 0 > 0) printf "%.2f", r / n; else printf "-" }')"
	printf '| spoold RSS idle / max while draining | %s / %s MB | < 2 MB |\n' \
	    "$(awk -v k="${spoold_idle_rss:-0}" 'BEGIN { printf "%.1f", k / 1024 }')" \
	    "$rssspoold"
	printf '| CPU ticks while idle 3 s: relay-fcgi / spoold; spoold 2 s after a drain | %s / %s; %s | 0 |\n' \
	    "${fcgi_idle:--}" "${spoold_idle:--}" "${drain_idle:--}"
	printf '| spoold drain vs posix_spawn ceiling (mean of before/after) | %s | >= 80%% |\n' \
	    "$(ratio "$rdrain" "$rspawn")"
	[ -n "$tk" ] || return 0
	printf '| trackd following the log, lines/s | %s | >= 50,000 |\n' \
	    "$(kv foreign_lps)"
	printf '| trackd RSS after %s lines (its own pages) | %s MB (%s kB) | < 2 MB |\n' \
	    "$(kv foreign_lines)" "$(mb "$(kv foreign_rss_kb)")" \
	    "$(kv foreign_anon_kb)"
	printf '| trackd CPU while the log is quiet 3 s | %s ns | 0 |\n' \
	    "$(kv idle_ns)"
}

report() {
	cat <<-EOF
	# mail-relay benchmark results

	Written by \`make bench\` (bench/run.sh) on $date.

	Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r).
	Spool on disk: $diskfs. Spool on tmpfs: $tmpfsfs.
	Load: wrk ${secs} s per row, $conns connections, $wthreads threads,
	POST of a $(wc -c < "$w/body.json") byte JSON body (bench/send.lua);
	relay-fcgi with $nworkers workers (threads), logging to a file;
	spoold stopped during the /send rows; durable job file: $jobsize bytes;
	fcgi-echo + durable write: the request body, written as durable-loop
	writes a job.
	nginx: worker_processes auto, no access log, no fastcgi_keep_conn.
	Errors are socket errors / HTTP statuses >= 400.
	CPU busy with other work just before the run: $busy0; load average at
	the start / end: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)
	(anything else running on the machine skews every figure; compare rows
	of one run, not runs of different days).

	EOF
	table
	echo
	targets
	[ -n "$pfnote" ] && printf '\n%s\n' "$pfnote"
	return 0
}

report > "$w/report.md"
echo
cat "$w/report.md"
if [ -n "$results" ]; then
	{
		cat "$w/report.md"
		# Keep the hand-written history below the generated part.
		if [ -f "$results" ] && grep -q '^## History' "$results"; then
			echo
			sed -n '/^## History/,$p' "$results"
		fi
	} > "$results.new" && mv "$results.new" "$results"
	say "bench: wrote $results"
fi
