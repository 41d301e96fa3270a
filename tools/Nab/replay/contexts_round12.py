"""Round 12 (docs/anomaly-experiments.md): fusion's tail calibration kept per context (the sign of the deviation,
weekday or weekend, 4-hour block, hour of day), alone, blended with the shared one, or never below it.

    python3 tools/Nab/replay/contexts_round12.py --trace /tmp/fusion-trace
"""
import argparse, math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusion_replay import *

def replay_ctx(series, keyf, mix=1.0, use_max=False, tail_p=0.99, eta=0.05, ref=3.0, extrap=1.0, knee=0.9, recur_level=8.0, recur_tol=60, z_scale=4.0, spatial=0.9, warmup=150, eta_ctx=None):
    eta_ctx = eta_ctx or eta
    out = {}
    for s in series:
        lq, lq90 = {}, {}
        gq, gq90 = math.log(ref), math.log(ref) - 1
        memory = []
        scores = [0.0] * s.n
        for i in range(1, s.n):
            row = s.trace[i]
            z = row['raw_z']
            k = keyf(row)
            if k not in lq: lq[k], lq90[k] = gq, gq90   # a new context starts from the shared estimate
            if use_max: a, b = max(lq[k], gq), max(lq90[k], gq90)
            else: a, b = mix * lq[k] + (1 - mix) * gq, mix * lq90[k] + (1 - mix) * gq90
            q = math.exp(a)
            heavy = max(0.0, a - b - knee)
            qx = math.exp(a + extrap * heavy) if heavy > 0 else q
            zc = z * ref / max(qx, ref)
            lq[k] += eta_ctx * (tail_p if z > math.exp(lq[k]) else -(1 - tail_p))
            lq90[k] += eta_ctx * (0.9 if z > math.exp(lq90[k]) else -0.1)
            gq += eta * (tail_p if z > math.exp(gq) else -(1 - tail_p))
            gq90 += eta * (0.9 if z > math.exp(gq90) else -0.1)
            scores[i], memory = finish(row, zc, memory, recur_level, recur_tol, z_scale, spatial, warmup)
        out[s.key] = scores
    return out

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument('--data', default=os.path.normpath(os.path.join(here, '..', '..', '..', '..', 'shared', 'data', 'nab', 'data')))
ap.add_argument('--trace', required=True)
args = ap.parse_args()
series = load(args.data, os.path.join(os.path.dirname(os.path.normpath(args.data)), 'windows.json'), args.trace)
print('default', fmt(evaluate(series, replay(series))), flush=True)
sign = lambda r: r['value'] >= r['level']
hour = lambda r: (int(r['minute']) // 60) % 24
hour4 = lambda r: (int(r['minute']) // 240) % 6
weekend = lambda r: ((int(r['minute']) // 1440) + 3) % 7 >= 5   # 1970-01-01 was a Thursday: day+3 mod 7 -> Mon=0
for name, f in [('sign', sign), ('weekend', weekend), ('hour4', hour4), ('hour', hour)]:
    for mix, mx, ec in [(1.0, False, None), (0.5, False, None), (1.0, True, None), (1.0, False, 0.2)]:
        print(name, mix, 'max' if mx else '', ec or '', fmt(evaluate(series, replay_ctx(series, f, mix=mix, use_max=mx, eta_ctx=ec))), flush=True)
