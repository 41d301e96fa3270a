"""CAD OSE (Contextual Anomaly Detector, open-source edition) re-derived in Python, to measure how much of its published
NAB score comes from the file's min and max that NAB hands every detector (docs/anomaly-experiments.md, rounds 8-9).
Research only, not shipped; Python 3, standard library only. Writes NAB's results layout, scored with `nab score`:

    python3 tools/Nab/replay/cadose.py file --out /tmp/cadose-file          # NAB's wrapper: the file's min and max
    python3 tools/Nab/replay/cadose.py running --out /tmp/cadose-running    # online: the running min and max
    python3 tools/Nab/replay/cadose.py frozen750 --out /tmp/cadose-frozen   # online: the first 750 rows' range, then frozen
    dotnet run -c Release --project tools/Nab -- score --results /tmp/cadose-file --detector cadose

8 bins (3 bits, each bit a fact), zero-level contexts of (left fact group, current facts), the left group carrying
the current facts plus up to 15 active contexts as "neuron" facts; score (1 - share of selected contexts active +
share of potential new contexts really new) / 2; silence for `rest` rows after a score >= 0.75.
"""
import argparse, csv, glob, os, sys, time
from multiprocessing import Pool

_ap = argparse.ArgumentParser(description='CAD OSE re-derived (research replay)')
_ap.add_argument('mode', nargs='?', default='file', help='file | fileRest30 | running | frozenK (range of the first K rows)')
_ap.add_argument('--data', default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'shared', 'data', 'nab', 'data')))
_ap.add_argument('--out', default=None, help='results folder (default /tmp/cadose-MODE)')
_ap.add_argument('--rest', type=int, default=150, help='rows of silence after an alert in the online modes')
_ap.add_argument('--raw', action='store_true', help='write the raw score, without the silence')
_ap.add_argument('--cap', type=int, default=0, help='clear the memory once it holds more contexts than this (0: never)')
_ap.add_argument('--quiet', type=int, default=0, help='rows of silence after each clear')
_ap.add_argument('--clip', type=int, default=15, help='highest bin for values above a frozen range')
_ap.add_argument('--neurons', type=int, default=15)
_ap.add_argument('--bits', type=int, default=3)
OPTS = _ap.parse_args() if __name__ == '__main__' else _ap.parse_args([])
REST, RAW, QUIET, CAP, CLIP = OPTS.rest, OPTS.raw, OPTS.quiet, OPTS.cap, OPTS.clip

class Memory:
    """Contexts = (left fact set, right fact set); semi-contexts shared; 'zero-level' flag on contexts made directly."""
    def __init__(s, maxLeft):
        s.maxLeft = maxLeft
        s.facts = [{}, {}]          # fact -> list of semi-context records
        s.semiIds = [{}, {}]        # key -> id
        s.semis = [[], []]          # records: [matchedFacts(list), size, matchedCount, {rightId: ctxId}] (left) / [matched, size, count] (right)
        s.crossed = [[], []]
        s.ctx = []                  # [useCount, zeroLevel, leftKey, rightKey]
        s.newId = None

    def add(s, pairs, zero=False):
        added = 0
        for L, R in pairs:
            lk, rk = hash(L), hash(R)
            lid = s.semiIds[0].get(lk)
            if lid is None:
                lid = len(s.semis[0]); s.semiIds[0][lk] = lid
                rec = [[], len(L), 0, {}]; s.semis[0].append(rec)
                for f in L: s.facts[0].setdefault(f, []).append(rec)
            rid = s.semiIds[1].get(rk)
            if rid is None:
                rid = len(s.semis[1]); s.semiIds[1][rk] = rid
                rec = [[], len(R), 0]; s.semis[1].append(rec)
                for f in R: s.facts[1].setdefault(f, []).append(rec)
            d = s.semis[0][lid][3]
            cid = d.get(rid)
            if cid is None:
                cid = len(s.ctx); d[rid] = cid; added += 1
                s.ctx.append([0, 1 if zero else 0, lk, rk])
                if zero: s.newId = cid; return True
            elif zero:
                s.ctx[cid][1] = 1; return False
        return added

    def cross(s, side, factsList):
        for rec in s.crossed[side]: rec[0] = []; rec[2] = 0
        for f in factsList:
            for rec in s.facts[side].get(f, ()): rec[0].append(f)
        out = []
        for rec in s.semis[side]:
            n = len(rec[0]); rec[2] = n
            if n > 0: out.append(rec)
        s.crossed[side] = out

    def active(s, newFlag):
        act = []; nsel = 0; pot = []
        for L in s.crossed[0]:
            for rid, cid in L[3].items():
                if s.newId == cid: continue
                c = s.ctx[cid]; R = s.semis[1][rid]
                if L[1] == L[2]:
                    nsel += 1
                    if R[2] > 0:
                        if R[1] == R[2]:
                            c[0] += 1; act.append((cid, c[0], c[2], c[3]))
                        elif c[1] and newFlag and L[2] <= s.maxLeft:
                            pot.append((tuple(L[0]), tuple(R[0])))
                elif c[1] and newFlag and R[2] > 0 and L[2] <= s.maxLeft:
                    pot.append((tuple(L[0]), tuple(R[0])))
        s.newId = None
        return act, nsel, pot

class CadOse:
    def __init__(s, lo, hi, rest, thr=0.75, maxLeft=7, maxNeurons=OPTS.neurons, bits=OPTS.bits, online=None):
        s.bits = bits; s.maxBin = 2 ** bits - 1.0; s.rest = int(rest); s.thr = thr; s.maxN = maxNeurons
        s.online = online; s.n = 0; s.clip = 0; s.quiet = 0
        s.setRange(lo, hi)
        s.left = tuple(); s.mem = Memory(maxLeft); s.hist = [1.0]

    def setRange(s, lo, hi):
        s.lo = lo; rng = (hi - lo) if hi is not None and lo is not None else 0.0
        if rng == 0.0: rng = s.maxBin
        s.step = rng / s.maxBin

    def stepFacts(s, facts):
        cur = tuple(sorted(set(facts)))
        uniq = set()
        if s.left and cur:
            z = (s.left, cur); uniq.add(z); newFlag = s.mem.add([z], zero=True)
        else:
            newFlag = False
        s.mem.cross(1, cur)
        act, nsel, pot = s.mem.active(newFlag)
        uniq.update(pot)
        pa = len(act) / nsel if nsel > 0 else 0.0
        act.sort(key=lambda x: (x[1], x[2], x[3]))
        neur = set(2 ** 31 + a[0] for a in act[-s.maxN:])
        s.left = tuple(sorted(set(cur) | neur))
        s.mem.cross(0, s.left)
        nn = s.mem.add(pot) if pot else 0
        nn += 1 if newFlag else 0
        pn = nn / len(uniq) if (newFlag and uniq) else 0.0
        return pa, pn

    def score(s, v):
        if s.online is not None:
            s.online(s, v)
        b = int((v - s.lo) / s.step)
        if b < 0: b = 0
        if s.clip and b > s.clip: b = s.clip
        facts = []
        k = 0
        while True:
            facts.append(k * 2 + (b & 1)); b >>= 1; k += 1
            if k >= s.bits and b == 0: break
        if CAP and len(s.mem.ctx) > CAP:
            s.mem = Memory(s.mem.maxLeft); s.left = tuple(); s.quiet = QUIET
        a1, a2 = s.stepFacts(facts)
        sc = (1.0 - a1 + a2) / 2.0
        out = sc if max(s.hist[-s.rest:]) < s.thr else 0.0
        s.hist.append(sc)
        if RAW: out = sc
        if s.quiet > 0: s.quiet -= 1; out = 0.0
        if len(s.hist) > s.rest + 5: s.hist.pop(0)
        s.n += 1
        return out

def runfile(args):
    p, mode, outdir = args
    c = p.split('/')[-2]; name = p.split('/')[-1]
    rows = list(csv.reader(open(p)))[1:]; vals = [float(r[1]) for r in rows]; N = len(vals)
    prob = min(int(0.15 * N), 750)
    if mode == 'file':
        d = CadOse(min(vals), max(vals), prob / 5.0)
    elif mode.startswith('running'):
        # online: running min/max; the bins move with every new extreme (CAD has no notion of a moving range)
        def upd(s, v):
            if s.n == 0: s.rmin = s.rmax = v
            s.rmin = min(s.rmin, v); s.rmax = max(s.rmax, v); s.setRange(s.rmin, s.rmax)
        d = CadOse(vals[0], vals[0], REST, online=upd)
    elif mode.startswith('frozen'):
        # online: range learnt over the first K rows, then frozen; later values above it get more bits (new facts)
        K = int(mode[6:].rstrip('c') or 150)
        def upd(s, v):
            if s.n == 0: s.rmin = s.rmax = v
            if s.n < K:
                s.rmin = min(s.rmin, v); s.rmax = max(s.rmax, v); s.setRange(s.rmin, s.rmax)
        d = CadOse(vals[0], vals[0], REST, online=upd)
        d.clip = CLIP
    elif mode == 'fileRest30':
        d = CadOse(min(vals), max(vals), 30)
    t = time.time(); sc = [d.score(v) for v in vals]
    os.makedirs(f'{outdir}/cadose/{c}', exist_ok=True)
    with open(f'{outdir}/cadose/{c}/cadose_{name}', 'w') as fo:
        fo.write('timestamp,value,anomaly_score\n')
        for r, x in zip(rows, sc): fo.write(f'{r[0]},{r[1]},{x}\n')
    return f'{c}/{name} {N} ctx {len(d.mem.ctx)} {time.time()-t:.1f}s'

if __name__ == '__main__':
    outdir = OPTS.out or '/tmp/cadose-' + OPTS.mode + ('-raw' if RAW else '')
    files = sorted(glob.glob(os.path.join(OPTS.data, '*', '*.csv')))
    with Pool(2) as pool:
        for line in pool.imap_unordered(runfile, [(p, OPTS.mode, outdir) for p in files]): print(line, flush=True)
