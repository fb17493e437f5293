# Sourced by every script in jobs/ before it touches anything (issue 32): `--help` (or `-h`)
# prints the script's header comment and exits 0; an argument the script does not take exits 64
# naming it, with the usage. Not a script of its own.
#
#   jobs_args "SPEC" "$@"
#
# SPEC, one word per positional argument, in order: N (a whole number), N... (any number of
# whole numbers), TEXT (one required argument), or REST (the rest goes to another program;
# options are not checked here). Options (words starting with -) are refused unless SPEC is REST.

jobs_usage() {
    # The comment block after the #! line, without the leading "# ".
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}

jobs_refuse() {
    echo "$(basename "$0"): $1" >&2
    echo "usage: see $(basename "$0") --help" >&2
    exit 64
}

jobs_args() {
    local spec=$1; shift
    local a
    for a in "$@"; do
        case $a in -h|--help) jobs_usage; exit 0 ;; esac
    done
    local kinds=($spec) i=0 kind
    for a in "$@"; do
        [ $i -lt ${#kinds[@]} ] || jobs_refuse "unexpected argument: $a"
        kind=${kinds[$i]}
        case $kind in
            REST) return 0 ;;
            N|N...) [[ $a =~ ^[0-9]+$ ]] || jobs_refuse "not a whole number: $a" ;;
            TEXT) [[ $a != -* ]] || jobs_refuse "unknown option: $a" ;;
            *) jobs_refuse "unexpected argument: $a" ;;
        esac
        [ "$kind" = "N..." ] || i=$((i + 1))
    done
    for kind in "${kinds[@]:$i}"; do
        [ "$kind" != TEXT ] || jobs_refuse "missing argument"
    done
}
