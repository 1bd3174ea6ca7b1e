/**
 * The client log stored with every snapshot as `client.log.blob` (sealed like the chunks when
 * the backup is encrypted): what ran, each archive, every warning by name, the summary. This is
 * where an operator looks when a task ended `WARNINGS: N`.
 */
export class ClientLog {
  private readonly lines: string[] = [];
  warnings = 0;

  info(message: string): void {
    this.lines.push(`${new Date().toISOString()}: ${message}`);
  }

  warn(message: string): void {
    this.warnings++;
    this.lines.push(`${new Date().toISOString()}: warning: ${message}`);
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}
