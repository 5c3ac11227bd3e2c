# The randomized user session (tests/session.sh): 200 steps drawn from a seed (printed; SEED=N repeats
# the draws), every invariant checked after every step, and at the end the weights of an uninterrupted
# run. `make soak` runs 2,000.
. "$(dirname "$0")/lib.sh"
STEPS=${STEPS:-200} bash "$ROOT/tests/session.sh" "$T/session"
