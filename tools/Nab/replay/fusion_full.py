"""fusion rebuilt from the raw values (round 14, docs/anomaly-experiments.md), not from the trace's raw z: the winsorised
level and its mad, the 24 hour-of-day slots, the running range with rangeClip, the scale floor, the tail and heavy-tail
calibration, recurrence damping, squash and spatial novelty. So variants of the *baseline* (how z is measured) can be
replayed too, which `fusion_replay.py` (it starts from the trace's raw z) cannot. Research only; Python 3, standard
library only. Check it against the C# scores (it needs the trace only for that check and for the windows' rows):

    dotnet run -c Release --project tools/Nab -- trace --out /tmp/fusion-trace
    python3 tools/Nab/replay/fusion_full.py --trace /tmp/fusion-trace

Options of `run` (all off by default, so the default reproduces `fusion` row for row):
  asym        'both': one-sided scales (mad of the deviations above, and below, the level and each slot, each doubled so a
              symmetric series keeps its scale) and z against the side the value is on; 'down': only values below use
              their side's scale
  asym_slot   False: the one-sided scales for the level only, the slots keep one scale
  sepcal      the level z and the slot z each calibrated by its own 99% / 90% quantiles, then the max (instead of one
              calibration of their max)
"""
import csv, datetime, math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_replay as fr

DAY = fr.DAY


def load(data, windows, trace):
    """The replay's series (windows as rows, the trace) with each file's timestamps (ms) and values."""
    series = fr.load(data, windows, trace)
    for s in series:
        rows = list(csv.reader(open(os.path.join(data, s.key))))[1:]
        s.ts = [int(datetime.datetime.strptime(r[0], '%Y-%m-%d %H:%M:%S').replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) for r in rows]
        s.vals = [float(r[1]) for r in rows]
    return series


def _calibrate(z, lq, lq90, tail_p, eta, ref, extrap, knee):
    """z divided by its running tail quantile (extrapolated where the tail is heavy); returns zc and the updated quantiles."""
    heavy = max(0.0, lq - lq90 - knee)
    qx = math.exp(lq + extrap * heavy) if heavy > 0 else math.exp(lq)
    zc = z * ref / max(qx, ref)
    lq += eta * (tail_p if z > math.exp(lq) else -(1 - tail_p))
    lq90 += eta * (0.9 if z > math.exp(lq90) else -0.1)
    return zc, lq, lq90


def run(s, vals=None, alpha=0.001, clip=20.0, range_floor=0.01, range_clip=200, alpha_season=0.02, warmup=150,
        tail_p=0.99, eta=0.05, ref=3.0, extrap=1.0, knee=0.9, recur_level=8.0, recur_tol=60, z_scale=4.0,
        spatial=0.9, spatial_tol=0.02, spatial_min=4.0, asym=None, asym_slot=True, sepcal=False):
    """fusion's score before its rest gate, per row of one series (vals: other values for the same timestamps)."""
    vals = vals or s.vals
    n = len(vals)
    out = [0.0] * n
    mean = lo = hi = vals[0]
    mad = mad_up = mad_down = 0.0
    smean, smad, sup, sdown, scnt = [0.0] * 24, [0.0] * 24, [0.0] * 24, [0.0] * 24, [0] * 24
    lq = math.log(ref)
    lq90 = lq - 1
    cal = [lq, lq90, lq, lq90]   # sepcal: the level's and the slots' own quantiles
    memory = []
    for i in range(1, n):
        count = i + 1
        v, ts = vals[i], s.ts[i]
        rng = hi - lo
        floor = range_floor * rng + 1e-9 * abs(mean) + 1e-300
        s_eff = max(1.25 * mad, floor)
        dev = abs(v - mean)
        side = s_eff
        if asym and (asym == 'both' or v < mean):
            side = max(1.25 * (mad_up if v >= mean else mad_down), floor)
        z_level = min(dev / side, 1e12)
        slot = (ts // 3_600_000) % 24
        k = scnt[slot]
        if k < 3:
            z_slot = z_level
        else:
            sc = max(1.25 * smad[slot], floor)
            if asym and asym_slot and (asym == 'both' or v < smean[slot]):
                sc = max(1.25 * (sup[slot] if v >= smean[slot] else sdown[slot]), floor)
            z_slot = min(abs(v - smean[slot]) / sc, 1e12)
        # the slot's update (winsorised, rate max(alpha, 1/(n+1)))
        if k == 0: smean[slot] = v
        up = v >= smean[slot]
        c = 0.0 if k == 0 else min(abs(v - smean[slot]), clip * max(1.25 * smad[slot], floor))
        a = max(alpha_season, 1.0 / (k + 1))
        smean[slot] += a * (c if up else -c)
        smad[slot] += a * (c - smad[slot])
        if up: sup[slot] += a * (2 * c - sup[slot])
        else: sdown[slot] += a * (2 * c - sdown[slot])
        scnt[slot] = min(k + 1, 65535)
        z = max(z_level, z_slot)
        if sepcal:
            zc1, cal[0], cal[1] = _calibrate(z_level, cal[0], cal[1], tail_p, eta, ref, extrap, knee)
            zc2, cal[2], cal[3] = _calibrate(z_slot, cal[2], cal[3], tail_p, eta, ref, extrap, knee)
            zc = max(zc1, zc2)
        else:
            zc, lq, lq90 = _calibrate(z, lq, lq90, tail_p, eta, ref, extrap, knee)
        if zc >= recur_level and count > warmup:
            minute = ts // 60_000
            repeats = any(minute - m >= DAY // 2 and ((minute - m) % DAY <= recur_tol or (minute - m) % DAY >= DAY - recur_tol) for m in memory)
            memory = (memory + [minute])[-8:]
            if repeats: zc = 0.0
        score = zc / (zc + z_scale)
        if spatial > 0 and rng > 0 and count > warmup:
            tol = spatial_tol * rng
            if (v > hi + tol or v < lo - tol) and dev > spatial_min * s_eff: score = max(score, spatial)
        out[i] = score
        # the level's update (winsorised) and the range (clipped after the warm-up)
        old_hi, old_lo = hi, lo
        a = max(alpha, 1.0 / count)
        c = min(dev, clip * s_eff)
        up = v >= mean
        mean += a * (c if up else -c)
        mad += a * (c - mad)
        c = min(dev, clip * max(1.25 * (mad_up if up else mad_down), floor))
        if up: mad_up += a * (2 * c - mad_up)
        else: mad_down += a * (2 * c - mad_down)
        lo, hi = min(lo, v), max(hi, v)
        if range_clip > 0 and count > warmup and old_hi > old_lo:
            hi = min(hi, max(old_hi, mean) + range_clip * s_eff)
            lo = max(lo, min(old_lo, mean) - range_clip * s_eff)
    return out


def main():
    a = fr.arguments(__doc__).parse_args()
    series = load(a.data, fr.windows_beside(a.data), a.trace)
    scores = {s.key: run(s) for s in series}
    bad = sum(1 for s in series for i in range(1, s.n) if abs(scores[s.key][i] - s.trace[i]['score']) > 1e-6)
    print(f'{len(series)} series; rows where the rebuilt fusion differs from the C# score: {bad}')
    print('default ' + fr.fmt(fr.evaluate(series, scores)))
    return 1 if bad else 0


if __name__ == '__main__':
    raise SystemExit(main())
