#!/usr/bin/env bash
# The main job, end to end on built-in defaults (paper mode).
#
# Validates the configuration and every profile, walks through how the engine sizes and gates
# entries, simulates three market days (normal, event, high-vol) into journals, reads one back
# through the decoder and the book, records the simulator live for a few seconds, then runs the
# model pipeline: parquet archive, labels, LightGBM training with ONNX export and parity, the
# release check with its canary on three held-out days, and promotion to the registry's active
# slot of a model that passed (only then); and finally runs the engine in paper mode on the
# simulated live feed for a minute and over the Bybit v5 protocol against toolkit venue, with the
# active model, /metrics served while it runs, and trades real mode against the same venue with
# test credentials (the account checked over signed REST, orders on the trade stream, their fate
# from the private stream).
# With no active model the engine refuses to trade and says why. Outputs go to data/, models/
# and docs/model_card.md (see the summary at the end).
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

# The simulator's planted edges, percent (feed/src/sim, "The planted edges": a weak trend, and
# informed orders resting behind the touch before a step of the price, which only a model
# reading the book can earn). On by default, so that the pipeline has something to find and the
# release gates something to pass; SIM_EDGE=0 gives the market without them, where no model
# pays and nothing is promoted. Each simulated day keeps the answer key beside it (latent.csv),
# which the canary's oracle reads and the pipeline never does.
SIM_EDGE=${SIM_EDGE:-100}
# feed::sim::SIMULATOR_VERSION (a test keeps them equal): days simulated by another version
# are simulated again.
SIMULATOR_VERSION=2

# Simulates a normal, an event and a high-vol day into OUT from START with SEED (day i: SEED +
# i), unless the three day directories given are complete already (session.json is written
# last) and were simulated with the same simulator, edge and seeds.
simulate_days() {
    local out=$1 start=$2 seed=$3
    shift 3
    local complete=yes day index=0
    for day in "$@"; do
        python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(s.get("simulator", 1) != int(sys.argv[4]) or s.get("edge_pct", 0) != int(sys.argv[2]) or s["seed"] != int(sys.argv[3]))' \
            "$day/session.json" "$SIM_EDGE" "$(( seed + index ))" "$SIMULATOR_VERSION" 2>/dev/null || complete=no
        index=$(( index + 1 ))
    done
    if [ "$complete" = yes ]; then
        echo "already simulated: $*"
    else
        simulated_afresh=yes
        rm -rf "$@"
        "$toolkit" synth --days normal,event,high-vol --start "$start" --seed "$seed" --hours "$SYNTH_HOURS" --edge "$SIM_EDGE" --out "$out"
    fi
}

# The pipeline's inputs: simulated days, or with HISTORY=DIR Bybit's public archives in DIR
# (order books YYYY-MM-DD_SYMBOL_obN.data.zip and trades SYMBOLYYYY-MM-DD.csv.gz, one symbol,
# two days or more), imported. The steps of the pipeline read their paths, symbol and book depth
# from the profile in pipeline_profile (none: config/app.yml as it is).
pipeline_profile=()
pipeline_data=data
pipeline_symbol=BTCUSDT
training=data/training.parquet
if [ -n "${HISTORY:-}" ]; then
    echo
    echo "== market data: Bybit's public archives in $HISTORY (HISTORY), imported into data/history/"
    shopt -s nullglob
    archives=("$HISTORY"/*.data.zip "$HISTORY"/*.csv.gz)
    shopt -u nullglob
    [ ${#archives[@]} -gt 0 ] || { echo "HISTORY=$HISTORY holds no Bybit archive (*.data.zip, *.csv.gz)" >&2; exit 1; }
    rm -rf data/history
    "$toolkit" import-history "${archives[@]}" --out data/history/imported
    # The later half of the days (at least the last) is held out for the canary, never archived
    # for training; the symbol and the book depth come from the import.
    split=$(python3 - data/history <<'SPLIT'
import json, os, sys
root = sys.argv[1]
imported = os.path.join(root, "imported")
symbols = sorted(os.listdir(imported))
if len(symbols) != 1:
    sys.exit(f"HISTORY: one symbol at a time, found {', '.join(symbols) or 'none'}")
symbol = symbols[0]
dates = sorted(os.listdir(os.path.join(imported, symbol)))
if len(dates) < 2:
    sys.exit(f"HISTORY: {symbol} has {len(dates)} day(s); two at least (training, then held out)")
held = max(1, len(dates) // 2)
depths = set()
placed = {"journal": [], "holdout": []}
for index, date in enumerate(dates):
    day = os.path.join(imported, symbol, date)
    depths.update(json.load(open(os.path.join(day, "import.json")))["depths"])
    kind = "holdout" if index >= len(dates) - held else "journal"
    target = os.path.join(root, kind, symbol, date)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(day, target)
    placed[kind].append(target)
if len(depths) != 1:
    sys.exit(f"HISTORY: the days of {symbol} have book depths {sorted(depths)}; import one depth at a time")
print(f"history_symbol={symbol} history_depth={depths.pop()}")
print("days=(" + " ".join(placed["journal"]) + ")")
print("holdout=(" + " ".join(placed["holdout"]) + ")")
SPLIT
)
    eval "$split"
    cat > data/history/profile.yml <<PROFILE
# Written by scripts/main.sh for HISTORY=$HISTORY: the pipeline on the imported days.
paths:
  data: data/history
  journal: data/history/journal
  holdout: data/history/holdout
  parquet: data/history/parquet
  market: data/history/market
  labels: data/history/labels
exchange:
  symbols: [$history_symbol]
engine:
  book_depth: $history_depth
PROFILE
    pipeline_profile=(--profile data/history/profile.yml)
    pipeline_data=data/history
    pipeline_symbol=$history_symbol
    training=data/history/training.parquet
    archive_again=yes
    locked=()
    stress_day=${holdout[0]}
    echo "$history_symbol at book depth $history_depth: training days ${days[*]##*/}; held out ${holdout[*]##*/}"
else
    echo
    echo "== market data: three simulated days (normal, event, high-vol), ${SYNTH_HOURS:=6} h each, planted edge ${SIM_EDGE} % (SIM_EDGE=0: none)"
    days=(data/journal/BTCUSDT/2026-01-0{1,2,3})
    simulated_afresh=no
    simulate_days data/journal 2026-01-01 7 "${days[@]}"
    # New journals for days archived before: archive them again.
    archive_again=$simulated_afresh

    # Held-out days, never archived for training, after the training window. The release check's
    # canary judges on days simulated with a fresh seed every run (HOLDOUT_SEED=N repeats a run), so
    # that running the job again and again never tunes a model to one set of days. A locked set
    # (seed 23, simulated once) judges only a model that passed, once: its report says when those
    # days judged a model before.
    HOLDOUT_SEED=${HOLDOUT_SEED:-$(( $(date +%s) % 1000000 + 100 ))}
    echo
    echo "== held-out days for the canary (never archived for training): normal, event, high-vol, ${SYNTH_HOURS} h each, planted edge ${SIM_EDGE} %, fresh seed ${HOLDOUT_SEED} (HOLDOUT_SEED=${HOLDOUT_SEED} repeats them)"
    holdout=(data/holdout/BTCUSDT/2026-01-0{4,5,6})
    simulate_days data/holdout 2026-01-04 "$HOLDOUT_SEED" "${holdout[@]}"
    locked=(data/locked/BTCUSDT/2026-01-0{7,8,9})
    stress_day=${holdout[1]}
fi

echo
echo "== the first day read back through the decoder and the book"
decoded=data/decoded-${days[0]##*/}.jsonl
"$toolkit" decode --book "${days[0]}" > "$decoded"
grep -c '"type":"top"' "$decoded" | xargs echo "book events:"
grep '"type":"top"' "$decoded" | tail -n 1

echo
echo "== recording the simulator live for 5 s"
rm -rf data/collect
"$engine" collect --feed sim --duration 5 --out data/collect

step() {
    echo
    echo "== $1"
    step_started=$SECONDS
}
took() {
    echo "($(( SECONDS - step_started )) s)"
}

step "archive: the journals replayed through the engine's pipeline into parquet"
if [ "$archive_again" = yes ]; then
    "$toolkit" dump-parquet "${pipeline_profile[@]}" --force
else
    "$toolkit" dump-parquet "${pipeline_profile[@]}"
fi
took

step "labels: every candidate traded through the paper venue and the engine's order manager (the one fill model)"
"$toolkit" label "${pipeline_profile[@]}"
took

step "training: LightGBM, ONNX export, parity with LightGBM on every validation row"
rm -rf models/candidate
"$toolkit" train "${pipeline_profile[@]}" --data "$training" --output-dir models/candidate
took

step "release check (benchmark: the previous models/latest; canary: the held-out days against the active model)"
model_id=$(python3 -c 'import json; print(json.load(open("models/candidate/model.json"))["id"])')
released=yes
"$toolkit" release-check "${pipeline_profile[@]}" --model models/candidate || released=no
# The model beside its baselines and the oracle (what the informed knew), from the canary.
python3 - models/candidate/canary_report.json <<'SUMMARY'
import json, sys
report = json.load(open(sys.argv[1]))
def line(name, results):
    overall = results["overall"]
    block = overall["pnl_per_trade_block"]
    return f"  {name:<10} {overall['trades']:>5} trades {overall['net_pnl_usd']:>+11.2f} USD, per trade {block['estimate']:+.2f} [{block['low']:+.2f}, {block['high']:+.2f}]"
print("held-out days, net after fees:")
print(line("model", report["candidate_results"]))
for baseline in report["baselines"]:
    print(line(baseline["name"], baseline["results"]))
oracle = report.get("oracle")
if oracle:
    print(line("oracle", oracle["results"]))
    share = oracle.get("captured_share")
    rho = oracle.get("score_correlation")
    print("  the model earned " + (f"{100 * share:.1f} %" if share is not None else "- (the oracle earned nothing)")
          + " of the oracle's PnL; its score's rank correlation with the move the informed expected: "
          + (f"{rho:+.3f}" if rho is not None else "-"))
print(f"canary verdict: {report['verdict']}")
SUMMARY
took

step "walk-forward: a model trained on the first two days, judged by the canary on the third (toolkit walk-forward)"
# Informative: its verdict does not decide the release (exit 1 or 2 is shown, not fatal).
if [ ${#days[@]} -ge 3 ]; then
    "$toolkit" walk-forward "${pipeline_profile[@]}" --data "$training" --days 3 --train 2 --test 1 \
        || echo "(walk-forward exit $?: see models/walk-forward/walk_forward.html)"
else
    echo "(${#days[@]} training days: a fold needs three)"
fi
took

if [ "$released" = yes ] && [ ${#locked[@]} -eq 0 ]; then
    echo
    echo "(no locked days for imported history: the release check's canary was the model's one look at held-out days)"
elif [ "$released" = yes ]; then
    step "the locked held-out days (seed 23): a model that passed is judged on them, once"
    simulate_days data/locked 2026-01-07 23 "${locked[@]}"
    "$toolkit" canary --candidate models/candidate --days "$(IFS=,; echo "${locked[*]}")" \
        --out models/candidate/locked || released=no
    took
fi

step "promotion to the registry's active slot: only a model that passed"
# The segments below trade paper and the loopback venue only: no money is at risk. When the
# model is refused they still run, on a scratch registry (models/demo-registry, through the
# profile data/demo.yml) that holds the refused model forced in with its reason; the registry a
# live engine reads (models/registry) never sees it.
demo_profile=()
rm -rf models/demo-registry data/demo.yml
if [ "$released" = yes ]; then
    "$toolkit" promote --to active --id "$model_id" --model models/candidate --notes "main job"
    rm -rf models/latest
    mv models/candidate models/latest
    active=$(readlink models/registry/active || true)
else
    echo "NOT PROMOTED: $model_id did not pass the release gates (or, having passed, the locked days);"
    echo "see models/candidate/release_report.json and models/candidate/canary_report.html (the model"
    echo "beside its baselines; models/candidate/locked/ for the locked days). The registry keeps"
    echo "its active model: $(readlink models/registry/active || echo 'none')."
    printf 'paths:\n  registry: models/demo-registry\n' > data/demo.yml
    demo_profile=(--profile data/demo.yml)
    "$toolkit" promote "${demo_profile[@]}" --to active --id "$model_id" --model models/candidate \
        --force --reason "main job demo: refused by the release check; paper and loopback only" --notes "main job"
    active=$(readlink models/demo-registry/active || true)
    echo "DEMO ONLY: the paper and loopback segments below trade $model_id from models/demo-registry."
fi
took

step "execution under stress: toolkit simulate-execution, ${STRESS_RUNS:=4} runs of each scenario in config/scenarios.yml on the held-out ${stress_day##*/}"
# Informative: the model that trades below (released, or the refused one in the demo registry)
# replayed on a held-out day with a slower venue, thinner books, feed gaps, order-entry pauses
# and a flash move; the engine's own warnings of each replay go to data/stress.log.
stress_model=models/latest
[ "$released" = yes ] || stress_model=models/candidate
if ! "$toolkit" simulate-execution "${pipeline_profile[@]}" --model "$stress_model" --days "$stress_day" --runs "$STRESS_RUNS" \
    --out data/simulate-execution 2> data/stress.log; then
    tail -n 5 data/stress.log >&2
    exit 1
fi
took

step "the fill model against a session: toolkit calibrate-fill on the canary's replay of ${stress_day##*/}"
# The candidate's canary replay of that day is a paper session (its decision log; the day's
# journal is its market): the fit must find the configured paper venue again (latency 2 ms +
# 15 ms out, 1 ms + 5 ms back; the response leg is seen only to the frame) and a queue power
# that fills every order as the replay did. On real sessions this is how the paper venue is
# fitted to the venue (docs/runbook.md).
calibration_log="$pipeline_data/canary/$model_id/candidate/${stress_day##*/}/decisions.jsonl"
if [ "$(grep -c '"type":"place"' "$calibration_log" 2>/dev/null || true)" -ge 10 ]; then
    "$toolkit" calibrate-fill "${pipeline_profile[@]}" --logs "$calibration_log" --days "$stress_day" \
        --out data/calibrate-fill
else
    echo "(the candidate placed fewer than 10 orders on ${stress_day##*/}: nothing to calibrate on)"
fi
took

# With no active model, the engine refuses to start and says why: shown, not fatal.
engine_run() {
    if [ -n "$active" ]; then
        "$engine" run "${demo_profile[@]}" "$@"
    elif "$engine" run "$@"; then
        echo "the engine ran without an active model" >&2
        exit 1
    else
        echo "(the engine refused to trade: no model has passed the release gates)"
    fi
}

if [ -n "${HISTORY:-}" ]; then
    echo
    echo "(the segments below run the engine on the simulator's BTCUSDT, as without HISTORY: the model"
    echo " was trained on $history_symbol's imported days, so read them for the engine, not the model)"
fi
step "paper trading: the engine on the simulated live feed (high-vol, real time) for ${ENGINE_SECONDS:=60} s"
rm -rf data/runs/main
engine_run --feed sim --regime high-vol --seed 1 --duration "$ENGINE_SECONDS" --out data/runs/main
took

step "the live path: paper trading over the Bybit v5 protocol against toolkit venue on loopback, with faults, for ${LIVE_SECONDS:=30} s"
# toolkit venue serves the public stream from the simulator (high-vol) and breaks it on purpose:
# a skipped update every 7 s (the book resyncs on the same connection), a dropped connection
# after 10 s (reconnect, resubscribe, new snapshot) and a 6 s stall after 18 s (found stale).
rm -rf data/runs/live data/venue
mkdir -p data/venue
# Test credentials, known only to this loopback venue and to the real-mode start below.
venue_key=mainjobkey01
venue_secret=mainjob-loopback-secret
# The venue reads more faults on its standard input while it runs: this script writes them
# into a FIFO (kept open on descriptor 3) when the real-mode session below begins.
mkfifo data/venue/faults
BYBIT_API_KEY=$venue_key BYBIT_API_SECRET=$venue_secret \
    "$toolkit" venue --addr 127.0.0.1:0 --regime high-vol --seed 4 \
    --faults "gap:every=7s,drop:after=10s,stall:after=18s:for=6s" \
    < data/venue/faults > data/venue/stdout.log 2> data/venue/venue.log &
venue_pid=$!
exec 3> data/venue/faults
trap 'exec 3>&-; kill "$venue_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "listening on" data/venue/stdout.log && break
    sleep 0.1
done
venue_url=$(sed -n 's/^toolkit venue: listening on //p' data/venue/stdout.log)
[ -n "$venue_url" ] || { echo "toolkit venue did not start (data/venue/venue.log)" >&2; exit 1; }
# A profile that points the endpoints at the venue, and notices a dead link in seconds.
cat > data/venue/loopback.yml <<PROFILE
exchange:
  endpoints:
    mainnet:
      rest: http://${venue_url#ws://}
      ws_public: $venue_url/v5/public/linear
      ws_private: $venue_url/v5/private
      ws_trade: $venue_url/v5/trade
  connection:
    pong_timeout: 2s
    stale_after: 3s
    reconnect_initial: 200ms
    reconnect_max: 2s
PROFILE
# A refused model trades here from the scratch registry only (see the promotion above).
if [ ${#demo_profile[@]} -gt 0 ]; then
    cat data/demo.yml >> data/venue/loopback.yml
fi
if [ -n "$active" ]; then
    "$engine" run --feed bybit --profile data/venue/loopback.yml --duration "$LIVE_SECONDS" \
        --out data/runs/live
else
    engine_run --feed bybit --profile data/venue/loopback.yml --duration 1 --out data/runs/live
    echo "the live path without trading: the public stream recorded through the same transport"
    rm -rf data/runs/live-journal
    "$engine" collect --feed bybit --profile data/venue/loopback.yml --duration "$LIVE_SECONDS" \
        --out data/runs/live-journal
fi
took

step "real mode against the same venue for ${REAL_SECONDS:=30} s: test credentials, orders over the Bybit v5 trade stream, Bybit's races"
# The account read over signed REST (clock, API key, BTCUSDT's rules against
# config/symbols.yml, fee rates, balances, position, open orders), the banner, then the settings
# (one-way mode, leverage); then the engine trades the venue as it would trade Bybit: orders on
# the trade stream, their fate from the private stream, filled by the venue's paper matching
# engine. The venue races as Bybit does: each fill's `order` push 600 ms before its execution,
# and the position closed from outside (a manual close in the web UI) halfway through. At the
# end the kill switch: working orders cancelled, the venue asked what the engine left (nothing,
# or the run fails), cancel-all, and asked again.
rm -rf data/runs/real
if [ -n "$active" ]; then
    echo "order-first:ms=600" >&3
    echo "manual-close:after=$((REAL_SECONDS / 2))s" >&3
    real_status=0
    BYBIT_API_KEY=$venue_key BYBIT_API_SECRET=$venue_secret \
        "$engine" run --mode real --feed bybit --profile data/venue/loopback.yml \
        --duration "$REAL_SECONDS" --out data/runs/real > data/venue/real.log 2>&1 || real_status=$?
    cat data/venue/real.log
    if [ "$real_status" -ne 0 ] || ! grep -q "^venue: 0 open orders" data/venue/real.log; then
        echo "the real-mode session failed or left orders at the venue (data/venue/real.log)" >&2
        exit 1
    fi
    # Neither the secret nor the whole API key in anything the engine or the venue wrote.
    for needle in "$venue_secret" "$venue_key"; do
        if grep -q "$needle" data/venue/real.log data/venue/venue.log data/runs/real/*; then
            echo "a credential appeared in an output" >&2
            exit 1
        fi
    done
    echo "the races, as the decision log tells them:"
    for event in doubt outside_execution position_corrected deferred reconciled; do
        printf '  %-20s %s\n' "$event" \
            "$(grep -c "\"type\":\"reconcile\",\"event\":\"$event\"" data/runs/real/decisions.jsonl || true)"
    done
    printf '  %-20s %s\n' "amends" "$(grep -c '"type":"amend"' data/runs/real/decisions.jsonl || true)"
    echo "every real order beside its paper shadow (venue_shadow_orders_total, by who filled it):"
    sed -n 's/^venue_shadow_orders_total{outcome="\(.*\)"} \(.*\)$/  \1 \2/p' data/runs/real/metrics.prom
else
    echo "no active model: real mode refuses to start, as paper mode did above"
fi
exec 3>&-
kill -TERM "$venue_pid" && wait "$venue_pid" || true
trap - EXIT
took

echo
echo "== outputs"
echo "effective configuration:     data/effective-config.yml"
echo "per profile:                 data/effective-config.{paper,real,bare-metal}.yml"
echo "configuration JSON Schema:   $toolkit validate-config --schema"
if [ -n "${HISTORY:-}" ]; then
    echo "imported days (journals):    ${days[*]} (import.json beside each; profile data/history/profile.yml)"
    echo "held-out days (canary):      ${holdout[*]}"
else
    echo "simulated days (journals):   ${days[*]}"
    echo "held-out days (canary):      ${holdout[*]} (seed $HOLDOUT_SEED)"
    echo "locked held-out days:        ${locked[*]} (seed 23; judged only a model that passed; data/canary/looks.jsonl records every look)"
fi
echo "first day, decoded:          $decoded"
echo "live recording:              data/collect"
echo "parquet archive:             $pipeline_data/parquet/symbol=$pipeline_symbol/date=*/ (candidates, _partition.json)"
echo "market tables:               $pipeline_data/market/symbol=$pipeline_symbol/date=*/ (tops, trades)"
echo "labels:                      $pipeline_data/labels/symbol=$pipeline_symbol/date=*/, $training"
echo "walk-forward:                models/walk-forward/ (walk_forward.{json,html}, fold-*/ with each fold's model and canary)"
if [ "$released" = yes ]; then
    echo "trained model (released):    models/latest/ (model.onnx, model.txt, lgbm_meta.json, model.json, *.png, release_report.json, canary_report.{json,html})"
else
    echo "trained model (NOT released): models/candidate/ (model.onnx, model.txt, lgbm_meta.json, model.json, *.png, release_report.json, canary_report.{json,html})"
fi
echo "canary replays:              $pipeline_data/canary/$model_id/"
echo "execution under stress:      data/simulate-execution/ (execution_report.{json,html})"
echo "fill model calibration:      data/calibrate-fill/ (fill_profile.yml, calibration.{json,html})"
echo "model card:                  docs/model_card.md"
echo "registry:                    models/registry/ (manifest.json, active -> ${active:-none})"
echo "paper run:                   data/runs/main/ (decisions.jsonl, metrics.prom)"
if [ -n "$active" ]; then
    echo "live path (loopback venue):  data/runs/live/ (decisions.jsonl, metrics.prom), data/venue/venue.log"
else
    echo "live path (loopback venue):  data/runs/live-journal/ (recorded, no trading), data/venue/venue.log"
fi
echo "real mode (loopback venue):   data/runs/real/ (decisions.jsonl, metrics.prom), data/venue/real.log"
echo "Grafana dashboard:           config/grafana-dashboard.json"
