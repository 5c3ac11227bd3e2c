# The test data (tests/data) is whole: every file in its SHA256SUMS is there, unchanged.
. "$(dirname "$0")/lib.sh"
need "$DATA/SHA256SUMS"
n=0 bad=0
while read -r sum path; do
    n=$((n + 1))
    if [ ! -r "$DATA/$path" ]; then fail "missing: tests/data/${path#./}"; bad=$((bad + 1))
    elif [ "$(sha256sum <"$DATA/$path" | cut -d' ' -f1)" != "$sum" ]; then fail "changed: tests/data/${path#./} (its SHA-256 is not the one in SHA256SUMS)"; bad=$((bad + 1))
    fi
done <"$DATA/SHA256SUMS"
[ "$n" -ge 800 ] && ok "SHA256SUMS lists $n files" || fail "SHA256SUMS lists only $n files"
[ "$bad" -eq 0 ] && ok "all $n test data files are there and unchanged"
