#!/usr/bin/env python3
"""The per-step breakdown of daemon-rt's start: median µs of each step, per build.

Build the bench's programs with the start's timestamps (daemon-rt/src/timing.rs), in a target
directory of their own so that the normal build is kept:

    CARGO_TARGET_DIR=target/timing RUSTFLAGS="--cfg daemon_rt_timing" \
        cargo build --release -p daemon-bench --bin daemon-rt-bench --bin limit
    python3 bench/timing.py 200 target/timing/release/daemon-rt-bench

Several builds (copies of daemon-rt-bench made from different sources) are started in
turn, a, b, ..., limit, a, b, ..., so that all see the same load: the way to measure one
change. `limit` (from the first build's directory) is timed from spawn to exit only. Each
start appends its marks to a file through `$DAEMON_RT_TIMING`; the marks of the starting
command, the intermediate child and the daemon share one origin, so the steps follow each
other across the three processes.
"""
import os, sys, subprocess, time, statistics, collections, tempfile, shutil

n, paths = int(sys.argv[1]), [os.path.abspath(p) for p in sys.argv[2:]]
names = [os.path.basename(p) for p in paths]
if len(set(names)) != len(names):
    sys.exit('timing.py: give the builds different file names')
exe = dict(zip(names, paths), limit=os.path.join(os.path.dirname(paths[0]), 'limit'))
work = tempfile.mkdtemp(prefix='daemon-rt-ab-')
for d in ('pids', 'logs', 'root'):
    os.mkdir(os.path.join(work, d))
marks_file = os.path.join(work, 'marks')
env = dict(os.environ, DAEMON_RT_TIMING=marks_file)
totals = collections.defaultdict(list)
steps = collections.defaultdict(lambda: collections.defaultdict(list))
order = {}
for i in range(n):
    for prog in names + ['limit']:
        pidfile = os.path.join(work, 'pids', prog + '.pid')
        for f in (pidfile, marks_file):
            if os.path.exists(f):
                os.unlink(f)
        t0 = time.monotonic_ns()
        subprocess.run([exe[prog], '--pidfile', pidfile, '--log',
                        os.path.join(work, 'logs', prog + '.log'), '--linger', '0'],
                       env=env, check=True, stdin=subprocess.DEVNULL)
        totals[prog].append((time.monotonic_ns() - t0) / 1000)
        if prog == 'limit':
            continue
        for _ in range(1000):
            if os.path.exists(marks_file) and 'daemon reported ready' in open(marks_file).read():
                break
            time.sleep(0.001)
        marks = {}
        for line in open(marks_file):
            role, pid, *label, ns = line.split()
            marks.setdefault(' '.join(label), int(ns) / 1000)
        seq = sorted(marks.items(), key=lambda kv: kv[1])
        order.setdefault(prog, [f'{a} → {b}' for (a, _), (b, _) in zip(seq, seq[1:])])
        for (a, ta), (b, tb) in zip(seq, seq[1:]):
            steps[prog][f'{a} → {b}'].append(tb - ta)
        steps[prog]['start → pid written'].append(marks['pid written'] - marks['start'])
        steps[prog]['start → starter exits'].append(marks['starter exits'] - marks['start'])
        steps[prog]['starter pre-fork work (start → fork)'].append(marks['fork'] - marks['start'])
        steps[prog]['daemon steps (daemon runs → reported ready)'].append(
            marks['daemon reported ready'] - marks['daemon runs'])
shutil.rmtree(work)
print(f'{n} starts each, alternated; median µs')
print('| step | ' + ' | '.join(names) + ' |')
print('|---|' + '--:|' * len(names))
print('| spawn to exit (wall) | ' + ' | '.join(f'{statistics.median(totals[p]):.0f}' for p in names) + f' | (limit {statistics.median(totals["limit"]):.0f})')
keys = order[names[0]] + [k for k in steps[names[0]] if k not in order[names[0]]]
for k in keys:
    print(f'| {k} | ' + ' | '.join(f'{statistics.median(steps[p][k]):.1f}' if steps[p].get(k) else '-' for p in names) + ' |')
