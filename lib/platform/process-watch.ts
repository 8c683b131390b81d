// While a session is active the process must not take it down with it: the
// platform listens for SIGTERM and SIGINT, for the event loop running dry
// ('beforeExit') and for the process's end ('exit', where only synchronous
// code runs). This file only adds and removes those listeners; what each
// does is the platform's.

export interface ProcessHooks {
  /** SIGTERM or SIGINT arrived (the listener is already removed). */
  signal(signal: NodeJS.Signals): void;
  /** The event loop ran dry with the session up. */
  beforeExit(): void;
  /** The process is ending: an uncaught exception, an unhandled rejection, process.exit(). */
  exit(): void;
}

export class ProcessWatch {
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.set(false); // a second signal takes the default action at once
    this.hooks.signal(signal);
  };
  private readonly onBeforeExit = () => this.hooks.beforeExit();
  private readonly onExit = () => this.hooks.exit();

  /** With `signals` false, only the 'exit' hook is installed (signals and exit are the application's). */
  constructor(
    private readonly hooks: ProcessHooks,
    private readonly signals: boolean,
  ) {}

  /** Installs (true) or removes (false) the listeners; idempotent. */
  set(on: boolean): void {
    process.removeListener('exit', this.onExit);
    if (on) process.on('exit', this.onExit);
    if (!this.signals) return;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.removeListener(signal, this.onSignal);
      if (on) process.on(signal, this.onSignal);
    }
    process.removeListener('beforeExit', this.onBeforeExit);
    if (on) process.on('beforeExit', this.onBeforeExit);
  }
}
