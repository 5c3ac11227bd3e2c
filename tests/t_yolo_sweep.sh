# yolo-sweep: one run folder per setting; running it again skips finished runs and resumes the others.
. "$(dirname "$0")/lib.sh"
cd "$T"
if ! command -v parallel >/dev/null; then skip "GNU parallel is not installed"; exit 0; fi
fashion_data detect ds 8 4
sweep=(yolo-sweep -j 2 detect data=ds/data.yaml epochs=1 imgsz=64 batch=8 workers=1 -- lr0=0.01,0.02)
check_out "--dry-run lists one run folder per setting" '^runs/sweep/sweep-lr0_0.02: yolo detect train .* lr0=0.02$' \
    "${sweep[@]}" --dry-run
check_fails "nothing to sweep is a usage error" 2 "nothing to sweep" yolo-sweep detect data=ds/data.yaml
check_fails "a bad swept value is refused before any run starts" 2 "^yolo-sweep: 'lr0=abc' is not valid: lr0 must be a number from 0 to 1$" \
    yolo-sweep detect data=ds/data.yaml epochs=1 imgsz=64 -- lr0=0.01,abc
check_fails "a key swept and fixed is refused" 2 "^yolo-sweep: lr0 is given twice \(swept, or swept and fixed\)$" \
    yolo-sweep detect data=ds/data.yaml lr0=0.1 -- lr0=0.01,0.02
[ ! -e runs/sweep ] && ok "... and nothing was made" || fail "a refused sweep made runs/sweep"
"${sweep[@]}" >a.out 2>a.err
rc=$?
if [ $rc -eq 0 ] && [ -f runs/sweep/sweep-lr0_0.01/weights/best.pt ] && [ -f runs/sweep/sweep-lr0_0.02/weights/best.pt ]; then
    ok "two settings, two run folders"
else fail "sweep (exit $rc): $(grep -v ' [0-9]/[0-9]$' a.err | tail -3 | tr '\n' '|')"; exit 0; fi
grep -q '^lr0: 0.02$' runs/sweep/sweep-lr0_0.02/args.yaml && ok "each run has its setting in args.yaml" || fail "args.yaml lacks lr0=0.02"

# one run left unfinished (as if the sweep was killed): the second pass resumes it and skips the other
yolo-ckpt set runs/sweep/sweep-lr0_0.02/weights/last.pt epochs=2 >/dev/null
"${sweep[@]}" >b.out 2>b.err
rc=$?
if [ $rc -eq 0 ] && grep -q 'sweep-lr0_0.01: finished, skipped' b.err && grep -q 'sweep-lr0_0.02: resuming' b.err &&
    [ "$(wc -l <runs/sweep/sweep-lr0_0.02/results.csv)" -eq 3 ]; then ok "running the sweep again resumes the unfinished run only"
else fail "second pass (exit $rc): $(grep -v ' [0-9]/[0-9]$' b.err | tail -3 | tr '\n' '|')"; fi
exit 0
