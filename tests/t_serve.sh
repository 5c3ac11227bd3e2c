# The trainer server (yolo-train-epoch --serve SOCKET, reached through yolo-train-epoch-client): an
# epoch through it is bit-identical to a direct run; exit codes, messages, ulimit -f and Ctrl+C pass
# through; a client killed with SIGKILL takes its trainer with it; a request it cannot honour exactly
# (another OMP_* setting) runs directly instead; several clients are served at once (the ranks of
# yolo world=N), each with a memory file of its own, whose pages the server keeps for the next
# trainer; the server goes away when its stdin closes, once its trainers have ended.
. "$(dirname "$0")/lib.sh"
export YOLO_MODELS=$ROOT/cfg/models
cd "$T"
fashion_data detect ds 16 4
cat >args.yaml <<EOF
task: detect
model: yolov8n.yaml
data: ds/data.yaml
epochs: 3
batch: 4
imgsz: 64
seed: 0
EOF
for e in 0 1; do yolo-data ds/data.yaml --split train --epochs 3 --seed 0 --imgsz 64 --epoch $e -o s$e.bin 2>/dev/null; done
client=$BIN/yolo-train-epoch-client
seconds_off() { sed 's/"seconds":[0-9.e-]*//' "$1"; }

# the reference: yolo-train-epoch run directly
yolo-train-epoch --new args.yaml -o d/weights/last.pt threads=1 <s0.bin >d0.json 2>/dev/null &&
    cp d/weights/last.pt d0.pt && yolo-train-epoch d/weights/last.pt threads=1 <s1.bin >d1.json 2>/dev/null ||
    { fail "direct epochs failed"; exit 0; }

exec {server_in}> >(exec yolo-train-epoch --serve "$T/socket" >/dev/null 2>server.err)
export YOLO_TRAINER_SOCKET=$T/socket YOLO_TRAINER_PID=$!
server=$!

YOLO_PROFILE=1 "$client" --new args.yaml -o s/weights/last.pt threads=1 <s0.bin >c0.json 2>c0.err
rc0=$?
YOLO_PROFILE=1 "$client" s/weights/last.pt threads=1 <s1.bin >c1.json 2>c1.err
rc1=$?
if [ $rc0 -eq 0 ] && [ $rc1 -eq 0 ] && ! grep -q 'running yolo-train-epoch directly' c0.err c1.err &&
    grep -q '^profile: before main 0\.[01]' c1.err; then ok "two epochs ran in processes forked by the server (no libtorch load)"
else fail "served epochs (exit $rc0/$rc1): $(grep -h -v '^ ' c0.err c1.err | tail -3 | tr '\n' '|')"; fi
check "epoch 1 through the server: last.pt bit-identical to the direct run" yolo-ckpt diff d/weights/last.pt s/weights/last.pt
# the memory files the server lends its trainers: the KiB each holds
server_memory() {
    local f
    for f in /proc/$server/fd/*; do
        case $(readlink "$f") in */memfd:yolo-trainer-memory*) echo $(($(stat -L -c '%b * %B' "$f") / 1024)) ;; esac
    done
}
kept=$(server_memory)
[ "$(echo "$kept" | wc -w)" = 1 ] && [ "$kept" -gt 1024 ] &&
    ok "the server keeps its trainers' memory pages for the next epoch: one file for two epochs, $kept KiB" ||
    fail "the server's memory files after two epochs one after the other: '$kept' KiB (want one file, over 1 MiB)"
# the client's lock descriptor (YOLO_LOCK_FD, any number) may have the number of the server's memory
# file: the trainer still has the file, at a number of its own
n=$(for f in /proc/$server/fd/*; do case $(readlink "$f") in */memfd:yolo-trainer-memory*) echo "${f##*/}" && break ;; esac; done)
mkdir -p m/weights && cp d0.pt m/weights/last.pt && mkfifo m.fifo
(eval "exec $n>>m/.lock" && flock -n "$n" && YOLO_LOCK_FD=$n exec "$client" m/weights/last.pt threads=1 <m.fifo >/dev/null 2>m.err) &
mpid=$!
exec {hm}>m.fifo
has=0
for _ in $(seq 600); do
    c=$(pgrep -P $server | head -1)
    # its descriptors in place: stdin is the fifo
    if [ -n "$c" ] && [ "$(readlink /proc/$c/fd/0)" = "$T/m.fifo" ]; then
        ls -l /proc/$c/fd | grep -q 'memfd:yolo-trainer-memory' && has=1
        break
    fi
    sleep 0.05
done
exec {hm}>&-
wait $mpid
[ -n "$n" ] && [ $has = 1 ] && ok "a client's YOLO_LOCK_FD with the number of the server's memory file ($n): the trainer still has the file" ||
    fail "YOLO_LOCK_FD=$n, the memory file's number: the trainer has the file $has: $(tail -1 m.err)"
[ "$(seconds_off d1.json)" = "$(seconds_off c1.json)" ] && ok "the same summary line on stdout" ||
    fail "summary differs: $(seconds_off c1.json)"
grep -q '      Epoch   box_loss' c1.err && ok "progress lines reach the client's stderr" || fail "no progress lines via the server"

check_fails "a usage error through the server: exit 2 and the trainer's one line" 2 "^yolo-train-epoch: unknown option '--bogus'" \
    "$client" --bogus

# ulimit -f of the client holds in the served process: the write fails, last.pt stays
mkdir -p f/weights && cp d0.pt f/weights/last.pt
( trap '' XFSZ; ulimit -f 20000; exec "$client" f/weights/last.pt threads=1 <s1.bin >/dev/null 2>f.err )
rc=$?
if [ $rc -eq 1 ] && grep -q 'larger than the file system or a limit allows' f.err && cmp -s d0.pt f/weights/last.pt; then
    ok "the client's ulimit -f applies: the write fails in one line and last.pt is unchanged"
else fail "ulimit -f via the server (exit $rc): $(tail -2 f.err | tr '\n' '|')"; fi

# SIGINT to the client alone (while its trainer waits for data): the epoch stops and saves its position
mkdir -p i/weights && cp d0.pt i/weights/last.pt
sz=$(stat -c %s s1.bin)
{ head -c $((sz / 2)) s1.bin; sleep 2; tail -c +$((sz / 2 + 1)) s1.bin; } | "$client" i/weights/last.pt threads=1 >/dev/null 2>i.err &
cpid=$!
# polls end as soon as their condition holds; up to 30 s, for a loaded machine
for _ in $(seq 600); do grep -q ' 1/4 [0-9.]*it/s' i.err 2>/dev/null && break; sleep 0.05; done
kill -INT $cpid
wait $cpid
rc=$?
if [ $rc -eq 130 ] && grep -q 'interrupted: saved i/weights/last.pt at sample' i.err &&
    yolo-ckpt inspect --json i/weights/last.pt | grep -q '"position": {'; then ok "SIGINT to the client stops the served epoch, saving its position"
else fail "SIGINT via the client (exit $rc): $(tail -2 i.err | tr '\n' '|')"; fi

# SIGKILL of the client: its trainer dies too and the run folder's lock is free again
# settled: until the server has no trainer left (a trainer that succeeded answers its client before
# the kernel has freed its memory, and is its server's child until then)
settled() { for _ in $(seq 600); do pgrep -P $server >/dev/null || return 0; sleep 0.05; done; }
settled
mkdir -p k/weights && cp d0.pt k/weights/last.pt
mkfifo k.fifo
nice -n 7 "$client" k/weights/last.pt threads=1 <k.fifo >/dev/null 2>k.err &
cpid=$!
exec {hold}>k.fifo
held=0
for _ in $(seq 600); do flock -n k/.lock true 2>/dev/null || { held=1; break; }; sleep 0.05; done
child=$(pgrep -P $server | head -1)
[ -n "$child" ] && [ "$(ps -o ni= -p "$child" | tr -d ' ')" = 7 ] && [ "$(ps -o comm= -p "$child")" = yolo-train-epoc ] &&
    ok "the served process has the client's nice value (nice -n 7) and the trainer's name" ||
    fail "served process ${child:-not found}: nice $(ps -o ni=,comm= -p "${child:-1}")"
kill -9 $cpid
wait $cpid 2>/dev/null
freed=0
for _ in $(seq 600); do flock -n k/.lock true 2>/dev/null && { freed=1; break; }; sleep 0.05; done
exec {hold}>&-
[ $held = 1 ] && [ $freed = 1 ] && ok "a client killed with SIGKILL takes its served trainer with it (lock free again)" ||
    fail "SIGKILL of the client: lock held $held, freed $freed: $(tail -2 k.err | tr '\n' '|') server: $(tail -2 server.err | tr '\n' '|')"

# a setting read when libraries load differs: refused, and the client runs the trainer itself
mkdir -p o/weights && cp d0.pt o/weights/last.pt
OMP_WAIT_POLICY=passive YOLO_PROFILE=1 "$client" o/weights/last.pt threads=1 <s1.bin >/dev/null 2>o.err
rc=$?
if [ $rc -eq 0 ] && grep -q 'refused: the environment differs.*running yolo-train-epoch directly' o.err &&
    yolo-ckpt diff d/weights/last.pt o/weights/last.pt >/dev/null; then ok "another OMP_* setting runs the trainer directly, same result"
else fail "env fallback (exit $rc): $(grep -v '^ ' o.err | tail -2 | tr '\n' '|')"; fi

# no server at all: the client runs the trainer itself
mkdir -p n/weights && cp d0.pt n/weights/last.pt
YOLO_TRAINER_SOCKET=$T/none YOLO_TRAINER_PID= "$client" n/weights/last.pt threads=1 <s1.bin >/dev/null 2>n.err &&
    yolo-ckpt diff d/weights/last.pt n/weights/last.pt >/dev/null && ok "without a server the client runs the trainer" ||
    fail "no server: $(tail -2 n.err | tr '\n' '|')"

# the yolo loop: each epoch through its own server, which is gone with its socket once yolo returns
YOLO_PROFILE=1 YOLO_TRAINER_SOCKET= yolo detect train data=ds/data.yaml epochs=2 imgsz=64 batch=4 workers=1 name=loop >loop.out 2>loop.err
rc=$?
served=$(grep -c '^profile: before main 0\.[01]' loop.err)
if [ $rc -eq 0 ] && [ "$served" = 2 ] && ! grep -q 'running yolo-train-epoch directly' loop.err && [ ! -e runs/detect/loop/.trainer.sock ] && ! pgrep -f "serve runs/detect/loop/" >/dev/null; then
    ok "yolo runs both epochs in processes forked by its trainer server, which is gone at the end"
else fail "the loop's server (exit $rc, $served served epochs): $(ls -A runs/detect/loop | tr '\n' ' ')"; fi

# two clients at once (as the ranks of world=2): two trainers run side by side, each waiting for its
# data, and both end as the direct run did
trainers() { pgrep -P $server -x yolo-train-epoc | wc -l; }
settled
for c in a b; do mkdir -p $c/weights && cp d0.pt $c/weights/last.pt && mkfifo $c.fifo; done
for c in a b; do "$client" $c/weights/last.pt threads=1 <$c.fifo >/dev/null 2>$c.err & eval pid_$c=$!; done
exec {fa}>a.fifo {fb}>b.fifo
both=0
for _ in $(seq 600); do [ "$(trainers)" = 2 ] && { both=1; break; }; sleep 0.05; done
cat s1.bin >&$fa; cat s1.bin >&$fb
exec {fa}>&- {fb}>&-
wait $pid_a && wait $pid_b && ra=0 || ra=1
[ $both = 1 ] && [ $ra = 0 ] && yolo-ckpt diff d/weights/last.pt a/weights/last.pt >/dev/null &&
    yolo-ckpt diff d/weights/last.pt b/weights/last.pt >/dev/null &&
    ok "two clients at once: two served trainers side by side, both bit-identical to the direct run" ||
    fail "two clients at once: both running $both, exit $ra: $(tail -1 a.err b.err | tr '\n' '|')"
# every epoch before these, killed, interrupted or failed ones too, gave its file back
kept=$(server_memory)
[ "$(echo "$kept" | wc -w)" = 2 ] && ok "each of two trainers at once has a memory file of its own, and no more: $(echo $kept) KiB" ||
    fail "memory files after two trainers at once: '$(echo $kept)' KiB (want two)"

# the server's stdin closes while a trainer runs: the socket goes at once, the trainer finishes and
# its client gets the exit status, then the server exits
settled
mkdir -p e/weights && cp d0.pt e/weights/last.pt && mkfifo e.fifo
"$client" e/weights/last.pt threads=1 <e.fifo >/dev/null 2>e.err {server_in}>&- &
cpid=$!
exec {fe}>e.fifo
for _ in $(seq 600); do [ "$(trainers)" = 1 ] && break; sleep 0.05; done
exec {server_in}>&-
for _ in $(seq 600); do [ -e "$T/socket" ] || break; sleep 0.05; done
kill -0 $server 2>/dev/null && [ ! -e "$T/socket" ] && waited=1 || waited=0
cat s1.bin >&$fe
exec {fe}>&-
wait $cpid
rc=$?
gone=0
for _ in $(seq 600); do kill -0 $server 2>/dev/null || { gone=1; break; }; sleep 0.05; done
[ $waited = 1 ] && [ $rc = 0 ] && yolo-ckpt diff d/weights/last.pt e/weights/last.pt >/dev/null &&
    ok "stdin closed mid-epoch: the socket goes, the epoch ends with exit 0 and its checkpoint" ||
    fail "stdin closed mid-epoch: server waited $waited, client exit $rc: $(tail -1 e.err)"
[ $gone = 1 ] && [ ! -e "$T/socket" ] && ok "the server exits when its stdin closes, removing the socket" ||
    fail "server still there (gone $gone, socket $(ls "$T/socket" 2>&1))"
exit 0
