# yolo-train-epoch as data-parallel ranks (torch.distributed's c10d, Gloo): the result does not depend
# on the world size (world 2, world 1 with the same micro-batch, and runs that change world size between
# epochs and in the middle of one end bit-identical), the refusals, a killed rank, Ctrl+C of one rank,
# and rank 1 writing nothing. 64 px Fashion-MNIST, 32 images, batch 8 (4 batches an epoch).
. "$(dirname "$0")/lib.sh"
export YOLO_MODELS=$ROOT/cfg/models
cd "$T"

fashion_data detect ds 32 8
cat >args.yaml <<EOF
task: detect
model: yolov8n.yaml
data: ds/data.yaml
epochs: 2
batch: 8
imgsz: 64
seed: 0
EOF
PORT=$((20000 + RANDOM % 20000))

# epoch RUN WORLD EPOCH [trainer args...]: one epoch of RUN on WORLD ranks of this machine, each from its
# own shard; rank r's stderr in RUN.rR.err, rank 0's summary in RUN.json. Returns the worst exit status.
epoch() {
    local run=$1 W=$2 e=$3 r rc=0 p pids=() src dst dist
    shift 3
    PORT=$((PORT + 1))
    if [ -e "$run/weights/last.pt" ]; then dst=("$run/weights/last.pt"); else dst=(--new "${ARGS:-args.yaml}" -o "$run/weights/last.pt" threads=1); fi
    for r in $(seq $((W - 1)) -1 0); do
        src=(); dist=()
        [ "$W" -gt 1 ] && src=(--shard "$r/$W" --shard-block $((8 / W))) dist=(--world "$W" --rank "$r" --master "127.0.0.1:$PORT")
        yolo-data ds/data.yaml --split train --epochs "${EPOCHS:-2}" --seed 0 --imgsz 64 --epoch "$e" "${src[@]}" 2>/dev/null |
            yolo-train-epoch "${dst[@]}" "${dist[@]}" "$@" >"$run.r$r.json" 2>"$run.r$r.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    cp "$run.r0.json" "$run.json" 2>/dev/null
    return $rc
}
# gated STREAM GATE: the stream's first 3/8 (a rank's first batch and part of its second), then the rest
# once the file GATE exists. The rank waits for data inside the epoch for as long as the test needs, so a
# kill or Ctrl+C lands mid-epoch however fast the machine trains.
gated() {
    local n=$(($(stat -c %s "$1") * 3 / 8))
    head -c $n "$1"
    while [ ! -e "$2" ]; do sleep 0.05; done
    tail -c +$((n + 1)) "$1"
}
same() { yolo-ckpt diff "$1/weights/last.pt" "$2/weights/last.pt" >"$T/diff" 2>&1; }
# ranks W ARGS...: ranks 0..W-1 of yolo-train-epoch ARGS at once on stream s3; rank 0's status and stderr
ranks() {
    local W=$1 r rc
    shift
    PORT=$((PORT + 1))
    for r in $(seq 1 $((W - 1))); do yolo-train-epoch "$@" --world "$W" --rank "$r" --master "127.0.0.1:$PORT" <s3 >/dev/null 2>&1 & done
    yolo-train-epoch "$@" --world "$W" --rank 0 --master "127.0.0.1:$PORT" <s3 >/dev/null
    rc=$?
    wait
    return $rc
}
# wait_for FILE REGEX: until FILE has a line matching REGEX (60 s at most)
wait_for() { local k; for k in $(seq 600); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- the world size does not matter
epoch w2 2 0 && epoch w2 2 1
rc=$?
if [ $rc -eq 0 ] && grep -q '"epoch":1,"epochs":2' w2.json && grep -q '"finished":true' w2.json; then ok "world 2: two epochs"
else fail "world 2: two epochs (exit $rc: $(tail -n2 w2.r0.err w2.r1.err | tr '\n' '|'))"; fi
epoch w1 1 0 micro_batch=4 && epoch w1 1 1
same w2 w1 && ok "world 1 with micro_batch=4 equals world 2, bit for bit" || fail "world 1 micro_batch=4 differs from world 2: $(tail -1 "$T/diff")"
epoch x 2 0 && epoch x 1 1
same w2 x && ok "world 2 for epoch 1, world 1 for epoch 2: the same bits" || fail "world 2 then 1 differs: $(tail -1 "$T/diff")"
epoch y 1 0 micro_batch=4 && epoch y 2 1
same w2 y && ok "world 1 (micro_batch=4) then world 2: the same bits" || fail "world 1 then 2 differs: $(tail -1 "$T/diff")"
# the issue's moonshot as it reads: 2 epochs on 2 ranks and 2 more on 1 equal 4 epochs on 2 ranks, and 4 on
# 1 rank with the same micro-batch
sed 's/^epochs: 2$/epochs: 4/' args.yaml >args4.yaml
rc=0
for e in 0 1 2 3; do ARGS=args4.yaml EPOCHS=4 epoch m2 2 $e || rc=1; done
for e in 0 1; do ARGS=args4.yaml EPOCHS=4 epoch m21 2 $e || rc=1; done
for e in 2 3; do ARGS=args4.yaml EPOCHS=4 epoch m21 1 $e || rc=1; done
ARGS=args4.yaml EPOCHS=4 epoch m1 1 0 micro_batch=4 || rc=1
for e in 1 2 3; do ARGS=args4.yaml EPOCHS=4 epoch m1 1 $e || rc=1; done
grep -q '"epoch":3,"epochs":4' m2.json && grep -q '"epoch":3,"epochs":4' m21.json && grep -q '"epoch":3,"epochs":4' m1.json ||
    fail "4-epoch runs did not finish (exit $rc: $(tail -qn1 m2.r0.err m21.r0.err m1.r0.err | tr '\n' '|'))"
same m2 m21 && ok "world 2 for 2 epochs, then world 1 for 2 more: the bits of 4 epochs on world 2" ||
    fail "world 2 for 2 epochs then world 1 for 2 differs from world 2 for 4: $(tail -1 "$T/diff")"
same m2 m1 && ok "... and of 4 epochs on world 1 with micro_batch=4" ||
    fail "4 epochs on world 1 (micro_batch=4) differ from world 2: $(tail -1 "$T/diff")"
# validation split between the ranks (rank 0: val batch 1, rank 1: batches 2 and 3 of 16, 16 and 8 images),
# from weights that score: the metrics and validation losses of one process, to the last bit
yolo-data fashion --task detect --out dsv --train 16 --val 40 --imgsz 128 >/dev/null 2>&1
need "$DATA/ultralytics/yolov8n-fashion256-e30.pt" dsv/data.yaml
printf 'task: detect\nmodel: %s\ndata: dsv/data.yaml\nepochs: 1\nbatch: 8\nimgsz: 128\nseed: 0\n' \
    "$DATA/ultralytics/yolov8n-fashion256-e30.pt" >pre.yaml
PORT=$((PORT + 1))
for r in 1 0; do
    yolo-data dsv/data.yaml --split train --epochs 1 --seed 0 --imgsz 128 --epoch 0 --shard $r/2 --shard-block 4 2>/dev/null |
        YOLO_PROFILE=1 yolo-train-epoch --new pre.yaml -o vd/weights/last.pt threads=1 --world 2 --rank $r \
            --master "127.0.0.1:$PORT" >vd.r$r.json 2>vd.r$r.err &
done
wait
yolo-data dsv/data.yaml --split train --epochs 1 --seed 0 --imgsz 128 --epoch 0 2>/dev/null |
    yolo-train-epoch --new pre.yaml -o vm/weights/last.pt threads=1 micro_batch=4 >vm.json 2>vm.err
metrics() { sed -e 's/.*"metrics":{\([^}]*\)},"fitness":\([^,]*\),.*/\1 \2/' "$1"; }
m2=$(metrics vd.r0.json) m1=$(metrics vm.json)
if [ -n "$m2" ] && [ "$m2" = "$m1" ] && [[ $m2 != *'"metrics/mAP50(B)":0.0,'* ]] && cmp -s <(cut -d, -f3- vd/results.csv) <(cut -d, -f3- vm/results.csv); then
    ok "two ranks validating half the images each: the metrics, fitness and val losses of one process ($m2)"
else
    fail "split validation differs: world 2 '$m2' / world 1 '$m1'; $(tail -1 vd.r0.err; tail -1 vd.r1.err)"
fi
v1=$(sed -n 's/^profile:.* validation \([0-9.]*\) s,.*/\1/p' vd.r1.err)
awk -v v="$v1" 'BEGIN { exit !(v > 0) }' && ok "rank 1 validated its share (${v1} s)" || fail "rank 1 did not validate: '$v1'"

# a position saved by world 2 in the middle of an epoch, resumed by world 1
epoch z 2 0 --stop-after 2; grep -q '"position":16' z.json && ok "world 2 stops after 2 batches, position 16 saved" ||
    fail "world 2 --stop-after 2 (exit $?: $(cat z.json; tail -1 z.r0.err))"
yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 0 --from 16 2>/dev/null |
    yolo-train-epoch z/weights/last.pt >/dev/null 2>z.err && epoch z 1 1
same w2 z && ok "a mid-epoch position from world 2 resumed on world 1: the same bits" || fail "mid-epoch world change differs: $(tail -1 "$T/diff"; tail -1 z.err)"
grep -q '"micro_batch": 4' <(yolo-ckpt inspect --json w2/weights/last.pt) && ok "the checkpoint records micro_batch 4" ||
    fail "micro_batch not in inspect --json: $(yolo-ckpt inspect --json w2/weights/last.pt | grep -i micro)"
# whole batches (the default) are not micro-batches: another result
epoch whole 1 0
! same w2 whole && ok "a run of whole batches differs (micro-batches change the normalisation)" || fail "whole batches gave the micro-batch result"
# rank 1 writes nothing, not even its folder
mkdir -p r1 && yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 0 --shard 1/2 --shard-block 4 2>/dev/null |
    yolo-train-epoch --new args.yaml -o r1/nowhere/weights/last.pt threads=1 --world 2 --rank 1 --master 127.0.0.1:$((PORT + 50)) >/dev/null 2>r1.err &
p1=$!
yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 0 --shard 0/2 --shard-block 4 2>/dev/null |
    yolo-train-epoch --new args.yaml -o r0/weights/last.pt threads=1 --world 2 --rank 0 --master 127.0.0.1:$((PORT + 50)) >/dev/null 2>r0.err
rc0=$?
wait $p1
rc1=$?
[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ] && [ ! -e r1/nowhere ] && [ -f r0/weights/last.pt ] && ok "rank 0 writes the run, rank 1 writes nothing" ||
    fail "rank 1 wrote something or failed (exit $rc0/$rc1: $(ls -R r1 | tr '\n' ' '); $(tail -1 r1.err))"

# ---- refusals, one line each (every rank refuses after rank 0 has sent the checkpoint)
cp -r w2 w3
yolo-ckpt set w3/weights/last.pt epochs=3 >/dev/null
yolo-data ds/data.yaml --split train --epochs 3 --seed 0 --imgsz 64 --epoch 2 >s3 2>/dev/null
check_fails "world 3 cannot split 2 micro-batches" 2 "w3/weights/last.pt: world=3 cannot split the run's 2 micro-batches of 4 \(batch 8\) evenly \(use world=1 or 2\)" \
    ranks 3 w3/weights/last.pt
epoch whole2 1 0
yolo-ckpt set whole2/weights/last.pt epochs=3 >/dev/null
check_fails "world 2 cannot split a run of whole batches" 2 "world=2 cannot split the run's 1 micro-batch of 8" ranks 2 whole2/weights/last.pt
check_fails "batch 8 over 3 ranks is refused" 2 "batch=8 cannot be split evenly over world=3 ranks" \
    ranks 3 --new args.yaml -o b3/weights/last.pt
[ ! -e b3/weights/last.pt ] && ok "... and nothing was written" || fail "a refused new run wrote last.pt"
check_fails "a rank needs a rendezvous" 2 "needs a rendezvous" yolo-train-epoch w3/weights/last.pt --world 2 --rank 1 <s3
check_fails "rank 2 of 2" 2 "rank 2 of world 2: the rank must be 0..world-1" env RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 \
    yolo-train-epoch w3/weights/last.pt <s3
check_fails "micro_batch only for a new run" 2 "micro_batch=N is fixed when a run starts" yolo-train-epoch w3/weights/last.pt micro_batch=2 <s3
# a rank fed the wrong shard names the stream it needs
PORT=$((PORT + 60))
yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 0 2>/dev/null |
    yolo-train-epoch --new args.yaml -o ws/weights/last.pt threads=1 --world 2 --rank 1 --master 127.0.0.1:$PORT >/dev/null 2>ws1.err &
p1=$!
yolo-data ds/data.yaml --split train --epochs 2 --seed 0 --imgsz 64 --epoch 0 --shard 0/2 --shard-block 4 2>/dev/null |
    yolo-train-epoch --new args.yaml -o ws/weights/last.pt threads=1 --world 2 --rank 0 --master 127.0.0.1:$PORT >/dev/null 2>ws0.err
wait $p1
grep -q 'rank 1 of 2 reads shard 1/2 in blocks of 4.*--shard 1/2 --shard-block 4' ws1.err && ok "a rank given the whole stream says which shard it needs" ||
    fail "wrong shard: $(cat ws1.err)"
grep -q 'a rank went away' ws0.err && [ ! -e ws/weights/last.pt ] && ok "... and rank 0 stops at once, writing nothing" ||
    fail "rank 0 after rank 1's refusal: $(cat ws0.err | tail -2)"

# ---- faults: rank 1 killed in the middle of the epoch; rank 0 fails fast and writes nothing
cp -r w2 k
yolo-ckpt set k/weights/last.pt epochs=3 >/dev/null
sum0=$(md5sum <k/weights/last.pt)
PORT=$((PORT + 1))
yolo-data ds/data.yaml --split train --epochs 3 --seed 0 --imgsz 64 --epoch 2 --shard 1/2 --shard-block 4 2>/dev/null >k1.stream
yolo-data ds/data.yaml --split train --epochs 3 --seed 0 --imgsz 64 --epoch 2 --shard 0/2 --shard-block 4 2>/dev/null >k0.stream
gated k1.stream k.go | yolo-train-epoch k/weights/last.pt --world 2 --rank 1 --master 127.0.0.1:$PORT >/dev/null 2>k1.err &
p1=$!
t0=$(date +%s.%N)
yolo-train-epoch k/weights/last.pt --world 2 --rank 0 --master 127.0.0.1:$PORT <k0.stream >/dev/null 2>k0.err &
p0=$!
# after rank 0's first batch: rank 1 waits for its second batch's data, rank 0 for rank 1
wait_for k0.err ' 1/4 ' && kill -9 $p1
touch k.go
t0=$(date +%s.%N)
wait $p0
rc=$?
t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if [ $rc -eq 1 ] && grep -q 'a rank went away' k0.err; then ok "rank 1 killed mid-epoch: rank 0 fails, saying a rank went away"
else fail "rank 1 killed: rank 0 exit $rc: $(tail -2 k0.err | tr '\n' '|')"; fi
awk -v t="$took" 'BEGIN { exit !(t < 30) }' && ok "... $took s after the kill" || fail "rank 0 took $took s to give up"
[ "$(md5sum <k/weights/last.pt)" = "$sum0" ] && ok "... and last.pt is untouched" || fail "last.pt changed after a failed epoch"

# ---- Ctrl+C of one rank: both stop after the same batch, rank 0 saves the position; resuming ends
# bit-identical
cp -r w2 i
cp -r w2 iref
yolo-ckpt set i/weights/last.pt epochs=3 >/dev/null
yolo-ckpt set iref/weights/last.pt epochs=3 >/dev/null
EPOCHS=3 epoch iref 2 2 || fail "the uninterrupted reference epoch: $(tail -1 iref.r0.err)"
PORT=$((PORT + 1))
gated k1.stream i.go | yolo-train-epoch i/weights/last.pt --world 2 --rank 1 --master 127.0.0.1:$PORT >i1.json 2>i1.err &
p1=$!
yolo-train-epoch i/weights/last.pt --world 2 --rank 0 --master 127.0.0.1:$PORT <k0.stream >i0.json 2>i0.err &
p0=$!
# rank 1 waits for its second batch's data, rank 0 for rank 1 in the step's collective; rank 1 is
# interrupted while it waits, then gets its data: both ranks must stop after that batch, rank 0 saving
wait_for i0.err ' 1/4 ' && sleep 0.5 && kill -INT $p1
sleep 0.2
touch i.go
wait $p0
rc0=$?
wait $p1
rc1=$?
pos=$(grep -o '"position":[0-9]*' i0.json | cut -d: -f2)
if [ $rc0 -eq 130 ] && [ $rc1 -eq 130 ] && [ -n "$pos" ] && grep -q "\"position\":$pos" i1.json; then ok "Ctrl+C of rank 1 only: both stop at sample $pos, rank 0 saved it"
else fail "Ctrl+C of rank 1: exit $rc0/$rc1 ($(cat i0.json i1.json; tail -n1 i0.err i1.err | tr '\n' '|'))"; fi
if [ -n "$pos" ]; then
    for r in 0 1; do
        yolo-data ds/data.yaml --split train --epochs 3 --seed 0 --imgsz 64 --epoch 2 --from "$pos" --shard $r/2 --shard-block 4 2>/dev/null >ir$r.stream
    done
    PORT=$((PORT + 1))
    yolo-train-epoch i/weights/last.pt --world 2 --rank 1 --master 127.0.0.1:$PORT <ir1.stream >/dev/null 2>&1 &
    yolo-train-epoch i/weights/last.pt --world 2 --rank 0 --master 127.0.0.1:$PORT <ir0.stream >/dev/null 2>ir0.err
    wait
    same iref i && ok "... and the resumed epoch ends bit-identical" || fail "interrupted and resumed differs: $(tail -1 "$T/diff"; tail -1 ir0.err)"
fi
