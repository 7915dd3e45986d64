/**
 * `eniwall capture`: frames of one ENI with the dataplane's verdict, written
 * as pcapng (src/cli/pcapng.ts) to a file or stdout. Runs until --count
 * packets, Ctrl-C / SIGTERM, or the ENI losing its port; the daemon ends the
 * capture when this process goes away. Lost packets (a full capture ring: the
 * reader was slower than the traffic) are reported on stderr at the end.
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { EniwallClient } from '../../api/client';
import { packageVersion } from '../../api/version';
import { CAPTURE_SNAP } from '../../dataplane/capture';
import { example, socketOf } from '../context';
import { UsageError } from '../fatal';
import { parseInteger } from '../parse';
import { pcapngHeader, pcapngPacket } from '../pcapng';

interface CaptureOptions {
  eni: string;
  direction: string;
  dropsOnly?: boolean;
  count?: string;
  write: string;
}

const READ_WAIT_MS = 250;

/** Where the pcapng goes: a file or stdout, written in order with backpressure. */
class Output {
  private broken = false;
  private constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', () => {
      this.broken = true; // the reader went away (EPIPE): stop capturing
    });
  }

  static open(target: string): Output {
    if (target === '-') return new Output(process.stdout);
    try {
      fs.closeSync(fs.openSync(target, 'w'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new UsageError(`cannot write ${target}: ${code}`);
    }
    return new Output(fs.createWriteStream(target));
  }

  get closed(): boolean {
    return this.broken;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.broken) return;
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          resolve();
        };
        this.stream.once('drain', done);
        this.stream.once('error', done);
      });
    }
  }

  async finish(): Promise<void> {
    if (this.broken) return;
    await new Promise<void>((resolve) => {
      if (this.stream === process.stdout) this.stream.write('', () => resolve());
      else this.stream.end(() => resolve());
    });
  }
}

function parseDirection(value: string): 'in' | 'out' | 'both' {
  if (value === 'in' || value === 'out' || value === 'both') return value;
  throw new UsageError(`--direction must be in, out or both, not '${value}'`);
}

export function captureCommand(): Command {
  return example(
    new Command('capture')
      .description(
        'capture an ENI’s frames as pcapng, each with its verdict as the packet comment ' +
          '(out: frames the ENI sends; in: frames for it, delivered or dropped on the way)',
      )
      .requiredOption('--eni <eni>', 'the ENI')
      .option('--direction <dir>', 'in, out or both', 'both')
      .option('--drops-only', 'only frames the dataplane dropped')
      .option('--count <n>', 'stop after n packets')
      .requiredOption('-w, --write <file>', 'pcapng output file, - for stdout'),
    'eniwall capture --eni eni-0123456789abcdef0 -w - | tshark -r - -T fields -e frame.comment',
  ).action(async (o: CaptureOptions, cmd: Command) => {
    const direction = parseDirection(o.direction);
    let count = Infinity;
    if (o.count !== undefined) {
      count = parseInteger(o.count, '--count');
      if (count < 1) throw new UsageError('--count must be at least 1');
    }
    if (o.write === '-' && process.stdout.isTTY) {
      throw new UsageError('refusing to write pcapng to a terminal; pipe it or use -w FILE');
    }
    const client = await EniwallClient.connect(socketOf(cmd));
    let stopping = false;
    const stop = (): void => {
      stopping = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const started = await client.call('capture.start', {
        eniId: o.eni,
        direction,
        dropsOnly: o.dropsOnly === true,
      });
      const out = Output.open(o.write);
      await out.write(
        pcapngHeader(
          `eniwall ${packageVersion()}`,
          started.eniId,
          `eniwall capture, direction ${direction}${o.dropsOnly ? ', drops only' : ''}`,
          CAPTURE_SNAP,
        ),
      );
      process.stderr.write(`capturing on ${started.eniId} (port ${started.port})\n`);
      let written = 0;
      let lost = 0;
      let ended = false;
      while (!stopping && !out.closed && written < count && !ended) {
        const batch = await client.call('capture.read', {
          captureId: started.captureId,
          waitMs: READ_WAIT_MS,
        });
        lost = batch.lost;
        ended = batch.ended;
        for (const p of batch.packets) {
          if (written >= count) break;
          await out.write(pcapngPacket({ ...p, data: Buffer.from(p.data, 'base64') }));
          written++;
        }
      }
      const final = await client.call('capture.stop', { captureId: started.captureId });
      lost = Math.max(lost, final.lost);
      await out.finish();
      const why = ended ? ` (${started.eniId} lost its dataplane port)` : '';
      process.stderr.write(`${written} packets captured on ${started.eniId}, ${lost} lost${why}\n`);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      client.close();
    }
  });
}
