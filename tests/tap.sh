# TAP helpers shared by the shell tests; source it after setting TMP (a
# scratch directory). Sets n (tests run) and fail (1 once one failed).
n=0
fail=0

# ok STATUS DESCRIPTION: one TAP line, "ok" when STATUS is 0
ok () {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

# expect_fail DESCRIPTION SUBSTRING CMD...: non-zero exit and SUBSTRING on stderr
expect_fail () {
  desc=$1; want=$2; shift 2
  if "$@" >"$TMP/out" 2>"$TMP/err"; then
    ok 1 "$desc (exited 0)"
  elif grep -qF -- "$want" "$TMP/err"; then
    ok 0 "$desc"
  else
    echo "# stderr: $(cat "$TMP/err")"
    ok 1 "$desc (stderr lacks '$want')"
  fi
}
