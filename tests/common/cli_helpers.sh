# Helpers shared by the shell tests of the `usine` command (sourced, not run). The caller
# sets $usine (the binary) and $out (a file for the last output) first.

# fail MESSAGE: prints it and the last output, exits 1.
fail() {
    echo "FAIL: $*"
    echo "---- output"
    cat "$out"
    exit 1
}

# run STATUS ARGS...: runs usine, stdout and stderr to $out, and checks the exit status.
run() {
    want=$1
    shift
    echo "+ usine $*"
    "$usine" "$@" >"$out" 2>&1
    got=$?
    [ "$got" -eq "$want" ] || fail "usine $* exited with $got, expected $want"
}

# expect TEXT...: each TEXT appears in the last output.
expect() {
    for text in "$@"; do
        grep -F -q -- "$text" "$out" || fail "no '$text' in the output"
    done
}
