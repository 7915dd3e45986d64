/**
 * Runs async jobs one at a time, in arrival order: the daemon's single
 * mutation queue (validate -> persist -> apply -> respond never interleaves).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private depth = 0;

  run<T>(job: () => Promise<T> | T): Promise<T> {
    this.depth++;
    const result = this.tail.then(job);
    // The chain must survive a failed job; the caller still sees the rejection.
    this.tail = result.then(
      () => this.depth--,
      () => this.depth--,
    );
    return result;
  }

  /** Resolves when every job queued so far has finished. */
  async drain(): Promise<void> {
    while (this.depth > 0) await this.tail;
  }
}
