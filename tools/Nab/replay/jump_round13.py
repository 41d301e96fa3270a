"""Round 13 (docs/anomaly-experiments.md): a short-horizon "jump" channel beside fusion's level z. The deviation from
the median of the last k values, in fusion's robust scale, calibrated by its own 99% / 90% quantiles exactly as fusion
calibrates z, combined with fusion's calibrated z by max, geometric mean, or as a confirmation (min).

    python3 tools/Nab/replay/jump_round13.py --trace /tmp/fusion-trace
"""
import argparse, math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusion_replay import *


def replay_jump(series, k, w, mode, ref=3.0, eta=0.05, knee=0.9, extrap=1.0):
    out = {}
    for s in series:
        st = {'buf': [], 'lq': math.log(ref), 'lq90': math.log(ref) - 1}

        def hook(row, zc, lq, lq90):
            buf, v, jc = st['buf'], row['value'], 0.0
            if len(buf) >= k:
                j = min(abs(v - sorted(buf)[len(buf) // 2]) / max(row['scale'], 1e-12), 20.0)
                q = math.exp(st['lq'])
                heavy = max(0.0, st['lq'] - st['lq90'] - knee)
                jc = j * ref / max(math.exp(st['lq'] + extrap * heavy) if heavy > 0 else q, ref)
                st['lq'] += eta * (0.99 if j > q else -0.01)
                st['lq90'] += eta * (0.9 if j > math.exp(st['lq90']) else -0.1)
            buf.append(v)
            if len(buf) > k: buf.pop(0)
            if mode == 'max': return max(zc, w * jc)
            if mode == 'geo': return zc ** (1 - w) * jc ** w if zc > 0 and jc > 0 else zc * (1 - w)
            return min(zc, max(jc, w * zc))   # 'min': a level deviation counts fully only where the point also jumps

        out.update(replay([s], hook=hook))
    return out


here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument('--data', default=os.path.normpath(os.path.join(here, '..', '..', '..', '..', 'shared', 'data', 'nab', 'data')))
ap.add_argument('--trace', required=True)
args = ap.parse_args()
series = load(args.data, os.path.join(os.path.dirname(os.path.normpath(args.data)), 'windows.json'), args.trace)
print('default', fmt(evaluate(series, replay(series))), flush=True)
for k in (3, 6, 12):
    for mode, ws in (('max', (0.5, 0.8, 1.0)), ('geo', (0.2, 0.4)), ('min', (0.3, 0.6))):
        for w in ws:
            print(k, mode, w, fmt(evaluate(series, replay_jump(series, k, w, mode))), flush=True)
