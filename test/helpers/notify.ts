/**
 * A stand-in for systemd's NOTIFY_SOCKET end: a python3 unix datagram listener
 * (abstract when the name starts with '@') that prints one JSON line per
 * message. On READY=1 it first probes, at that instant, whether the API socket
 * accepts a connection and whether a TAP exists, so a test can assert that the
 * daemon said ready only once it was.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';

// Prints one JSON line per datagram; on READY=1 it first probes the API socket and the TAP.
const RECEIVER = `
import json, os, socket, subprocess, sys
where, api, tap, netns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + where[1:] if where.startswith('@') else where)
print(json.dumps({"listening": True}), flush=True)
while True:
    msg = s.recv(4096).decode()
    out = {"message": msg}
    if "READY=1" in msg.split("\\n"):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(api); out["api"] = "up"
        except OSError as e:
            out["api"] = str(e)
        c.close()
        if netns:
            out["tap"] = subprocess.run(["ip", "-n", netns, "link", "show", "dev", tap],
                                        capture_output=True).returncode == 0
        else:
            out["tap"] = os.path.exists("/sys/class/net/" + tap)
    print(json.dumps(out), flush=True)
`;

export interface Receiver {
  where: string;
  messages: Array<{ message: string; api?: string; tap?: boolean }>;
  next(): Promise<{ message: string; api?: string; tap?: boolean }>;
}

export async function startReceiver(
  t: TestContext,
  where: string,
  api: string,
  tap: string,
  netns = '',
): Promise<Receiver> {
  // The TAP is looked for in netns when given (an ENI with --netns moves its kernel side there).
  const child = spawn('python3', ['-c', RECEIVER, where, api, tap, netns], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    child.kill('SIGKILL');
    if (where.startsWith('/')) fs.rmSync(where, { force: true });
  });
  const messages: Receiver['messages'] = [];
  const waiters: Array<() => void> = [];
  let buffer = '';
  let listening: () => void = () => {};
  const bound = new Promise<void>((resolve) => (listening = resolve));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = JSON.parse(buffer.slice(0, nl)) as { listening?: boolean; message?: string };
      buffer = buffer.slice(nl + 1);
      if (line.listening) listening();
      else messages.push(line as Receiver['messages'][number]);
      waiters.splice(0).forEach((w) => w());
    }
  });
  await bound;
  let taken = 0;
  return {
    where,
    messages,
    next: async () => {
      const deadline = Date.now() + 15000;
      while (messages.length <= taken) {
        if (Date.now() > deadline) throw new Error('no sd_notify message within 15 s');
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return messages[taken++]!;
    },
  };
}
