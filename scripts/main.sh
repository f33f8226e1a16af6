#!/usr/bin/env bash
# The main job, end to end on built-in defaults (paper mode).
#
# For now: validate the configuration and every profile, walk through how the engine sizes and
# gates entries, simulate three market days (normal, event, high-vol) into journals, read one
# back through the decoder and the book, and record the simulator live for a few seconds.
# Outputs go to data/ (see the summary at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== build (release)"
cargo build --release --locked --bins
toolkit=target/release/toolkit
engine=target/release/engine
mkdir -p data

echo
echo "== configuration"
"$toolkit" validate-config > data/effective-config.yml
for profile in paper real bare-metal; do
    "$toolkit" validate-config --profile "$profile" > "data/effective-config.$profile.yml"
done
grep -E '^  (mode|venue):' data/effective-config.yml

walk() {
    echo
    echo "== $1"
    shift
    "$engine" size "$@"
}
walk "sizing: BTC at 60000, cap 20000, leverage 10 -> 0.333" --price 60000 --balance 5000
walk "sizing: the balance binds (1000 x 10 / 60000)" --price 60000 --balance 1000
walk "gate: free balance under min_free_balance_usd" --price 60000 --balance 150
walk "gate: a short whose liquidation is too close" --side sell --price 60000 --balance 5000 --liq-price 60200
walk "gate: too little resting size on our side" --price 60000 --balance 5000 --depth 0.1,0.1,0.1
walk "sizing: under the minimum order qty is dropped, never inflated" --price 60000 --balance 0.5

echo
echo "== market data: three simulated days (normal, event, high-vol), ${SYNTH_HOURS:=2} h each"
days=(data/journal/BTCUSDT/2026-01-0{1,2,3})
if [ -f "${days[0]}/session.json" ] && [ -f "${days[1]}/session.json" ] && [ -f "${days[2]}/session.json" ]; then
    echo "already simulated: ${days[*]}"
else
    rm -rf "${days[@]}"
    "$toolkit" synth --days normal,event,high-vol --start 2026-01-01 --seed 7 --hours "$SYNTH_HOURS" --out data/journal
fi

echo
echo "== the first day read back through the decoder and the book"
"$toolkit" decode --book data/journal/BTCUSDT/2026-01-01 > data/decoded-2026-01-01.jsonl
grep -c '"type":"top"' data/decoded-2026-01-01.jsonl | xargs echo "book events:"
grep '"type":"top"' data/decoded-2026-01-01.jsonl | tail -n 1

echo
echo "== recording the simulator live for 5 s"
rm -rf data/collect
"$engine" collect --feed sim --duration 5 --out data/collect

echo
echo "== outputs"
echo "effective configuration:     data/effective-config.yml"
echo "per profile:                 data/effective-config.{paper,real,bare-metal}.yml"
echo "configuration JSON Schema:   $toolkit validate-config --schema"
echo "simulated days (journals):   ${days[*]}"
echo "first day, decoded:          data/decoded-2026-01-01.jsonl"
echo "live recording:              data/collect"
