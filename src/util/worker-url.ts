/**
 * Where a worker thread's module is, for `new Worker(...)`. From source it sits beside the
 * module that starts it. In the compiled binary every bundled module has the binary's own URL
 * (file:///$bunfs/root/ironcore-backup) and the extra entry points of compile/build.ts keep
 * their path below src/, so the worker is found by that path.
 */
export function workerUrl(callerUrl: string, pathBelowSrc: string): string {
  if (callerUrl.includes("/$bunfs/")) return new URL(`./${pathBelowSrc}`, callerUrl).href;
  return new URL(`./${pathBelowSrc.split("/").pop()}`, callerUrl).href;
}
