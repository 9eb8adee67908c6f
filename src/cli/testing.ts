/** Test helper: runs the CLI in-process and captures what it prints. */
import { runCli } from './main.js';

/** Runs `contraseg <argv>` in this process; its exit code and everything it wrote to stdout and stderr. */
export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => { stdout += text; }, stderr: (text) => { stderr += text; } });
  return { code, stdout, stderr };
}
