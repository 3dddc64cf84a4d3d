/**
 * Preloaded (`NODE_OPTIONS=--require …`) into a served Gatehouse by the memory group: every
 * cluster worker's main thread appends one JSON line every 2 s to
 * `$GATEHOUSE_BENCH_MEMORY_DIR/<pid>.jsonl` with what holds its memory: RSS, the V8 heap
 * (used, committed, its limit, each space's size), memory outside the heap (`external`,
 * `arrayBuffers`) and the garbage collections since the last line (count and pause by kind).
 * Bench-only: nothing in the product reads it.
 */
const cluster = require('node:cluster');
const fs = require('node:fs');
const path = require('node:path');
const { PerformanceObserver, constants } = require('node:perf_hooks');
const v8 = require('node:v8');
const { isMainThread } = require('node:worker_threads');

const dir = process.env.GATEHOUSE_BENCH_MEMORY_DIR;
if (dir && cluster.isWorker && isMainThread) {
  const file = path.join(dir, `${process.pid}.jsonl`);
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  let gc = {};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[entry.detail?.kind] ?? 'other';
      gc[kind] ??= { count: 0, ms: 0 };
      const seen = gc[kind];
      seen.count += 1;
      seen.ms += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    const heap = v8.getHeapStatistics();
    const spaces = {};
    for (const space of v8.getHeapSpaceStatistics())
      spaces[space.space_name.replace(/_space$/, '')] = [mb(space.space_size), mb(space.space_used_size)];
    const line = {
      t: Date.now(),
      rss: mb(usage.rss),
      heapTotal: mb(usage.heapTotal),
      heapUsed: mb(usage.heapUsed),
      heapLimit: mb(heap.heap_size_limit),
      external: mb(usage.external),
      arrayBuffers: mb(usage.arrayBuffers),
      malloced: mb(heap.malloced_memory),
      spaces,
      gc,
    };
    gc = {};
    fs.appendFile(file, `${JSON.stringify(line)}\n`, () => {});
  }, 2_000);
  timer.unref();
}
