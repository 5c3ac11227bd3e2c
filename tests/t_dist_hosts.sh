# Ranks on several machines: two "hosts" are two network namespaces joined by a veth pair, with
# addresses that exist only inside them, and `yolo ... hosts=FILE` reaches them through GNU parallel's
# sshloginfile as it would reach real machines, with an ssh stand-in (tests/netns-ssh) that enters the
# namespace holding the address. The run must end with the checkpoint of world=2 on this machine.
. "$(dirname "$0")/lib.sh"
export YOLO_MODELS=$ROOT/cfg/models
cd "$T"

# two namespaces and a cable; removed whatever happens
NS=yt$$
NET=10.$((100 + RANDOM % 100)).$((RANDOM % 250 + 1))
A=$NET.1 B=$NET.2
cleanup() { ip netns del "${NS}a" 2>/dev/null; ip netns del "${NS}b" 2>/dev/null; }
trap cleanup EXIT
if ! { ip netns add "${NS}a" && ip netns add "${NS}b" && ip link add "${NS}x" type veth peer name "${NS}y" &&
    ip link set "${NS}x" netns "${NS}a" && ip link set "${NS}y" netns "${NS}b" &&
    ip -n "${NS}a" addr add "$A/24" dev "${NS}x" && ip -n "${NS}b" addr add "$B/24" dev "${NS}y" &&
    ip -n "${NS}a" link set "${NS}x" up && ip -n "${NS}b" link set "${NS}y" up &&
    ip -n "${NS}a" link set lo up && ip -n "${NS}b" link set lo up; } 2>"$T/ip.err"; then
    # network namespaces need root (CAP_NET_ADMIN), as make check runs in CI
    fail "cannot make two network namespaces: $(head -1 "$T/ip.err") (run as root)"
    exit 1
fi
# B reaches A: a connection to a closed port of A is refused (by A), not lost
reach=$(ip netns exec "${NS}b" timeout 5 bash -c "exec 3<>/dev/tcp/$A/9" 2>&1)
if ! ip -o addr show | grep -q " $NET\." && [[ $reach == *"Connection refused"* ]]; then
    ok "hosts $A and $B exist only inside their namespaces and reach each other"
else
    fail "namespace network: $(ip -o addr show | grep "$NET"; echo "$reach" | tail -1)"
fi

fashion_data detect ds 32 8
printf '# rank 0 (this run folder, the rendezvous), then rank 1\n%s/tests/netns-ssh %s\n%s/tests/netns-ssh %s\n' \
    "$ROOT" "$A" "$ROOT" "$B" >hosts.txt
train=(yolo detect train data=ds/data.yaml model=yolov8n.yaml epochs=1 batch=8 imgsz=64 workers=1 exist_ok=true)
YOLO_PROFILE=1 "${train[@]}" name=hosts hosts=hosts.txt >hosts.out 2>hosts.err
rc=$?
if [ $rc -eq 0 ] && [ -f runs/detect/hosts/weights/last.pt ]; then ok "two ranks on two hosts through GNU parallel: one epoch"
else fail "hosts run (exit $rc): $(grep -v "^ " hosts.err | tail -5 | tr "\n" "|")"; fi
grep -q "^1	[^	]*$A	" runs/detect/hosts/.ranks.log && grep -q "^2	[^	]*$B	" runs/detect/hosts/.ranks.log && ok "rank 0 ran on $A, rank 1 on $B" ||
    fail "where the ranks ran: $(cat runs/detect/hosts/.ranks.log)"
YOLO_PROFILE=1 "${train[@]}" name=local world=2 >local.out 2>local.err
if yolo-ckpt diff runs/detect/hosts/weights/last.pt runs/detect/local/weights/last.pt >diff.out 2>&1; then
    ok "the same checkpoint as world=2 on one host, bit for bit"
else
    fail "hosts run differs from world=2 here: $(tail -1 diff.out)"
fi
# the gradients go during the backward pass where the exchange crosses a network, or where this machine
# has a core the ranks' threads leave free; after it where two one-thread ranks take every core here
here=after; [ "$(nproc)" -gt 2 ] && here=during
sent() { grep -c "^\(rank 1: \)\?profile: .*rank [01] of 2, gradients sent $2 the backward pass)$" "$1"; }
if [ "$(sent hosts.err during)" = 2 ] && [ "$(sent local.err $here)" = 2 ]; then
    ok "gradients sent during the backward pass across the hosts, $here it on one host of $(nproc) cores"
else
    fail "when the gradients go: $(grep -h 'gradients sent' hosts.err local.err | sed 's/.*(//' | tr '\n' '|')"
fi
# a host list that cannot work is refused before anything runs
printf '%s\n%s\n' "$A" "$A" >twice.txt
check_fails "a host twice" 2 "twice.txt: $A is there twice \(write N/$A for N ranks on it\)" \
    yolo detect train data=ds/data.yaml epochs=1 batch=8 imgsz=64 name=bad hosts=twice.txt
check_fails "world= and hosts= disagree" 2 "world=3 but hosts=hosts.txt has 2 ranks" \
    yolo detect train data=ds/data.yaml epochs=1 batch=8 imgsz=64 name=bad2 hosts=hosts.txt world=3
