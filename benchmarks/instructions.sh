#!/bin/sh
# Instructions per message of the single-message path (Matcher.match) on the bundled FAQ, counted
# by valgrind's cachegrind: the run that matches the benchmark's messages once, less the run that
# does everything else (start-up, building the matcher, warming up) without them. Unlike timings
# on a shared machine it repeats to about 0.1 % (with one BLAS thread), so it shows what a change
# to the matcher costs or saves; it is not a time (numpy's passes over arrays run several
# instructions a cycle, Python's interpreter fewer).
#
#     sh benchmarks/instructions.sh [--chars 200] [--repeat 200]
#
# Needs valgrind (apt-get install valgrind); about a minute with two cores.
set -e
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
if ! command -v valgrind >/dev/null; then
    echo "benchmarks/instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
fi
repeat=200
chars=200
while [ $# -gt 0 ]; do
    case $1 in
        --chars) chars=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        *) echo "benchmarks/instructions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
count() {
    OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null "$python" benchmarks/long_messages.py \
        --chars "$chars" --repeat "$repeat" --passes "$1" 2>&1 |
        sed -n 's/.*I *refs: *//p' | tr -d ,
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count 0 >"$tmp/0" &
count 1 >"$tmp/1"
wait
echo "$(( ($(cat "$tmp/1") - $(cat "$tmp/0")) / repeat )) instructions per $chars-character message"
