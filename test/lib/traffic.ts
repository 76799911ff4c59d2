/**
 * Traffic tool run inside a test namespace (`ip netns exec NS node traffic.js ...`).
 *   udp-echo HOST PORT                       echo every datagram; prints "ready"
 *   udp-send HOST PORT COUNT SIZE SPORT      ping-pong COUNT datagrams of SIZE payload bytes; prints replies
 *   udp-blast HOST PORT COUNT SIZE SPORT     send COUNT datagrams without waiting
 *   udp-flood HOST PORT MS SIZE SPORT        send datagrams as fast as possible for MS ms; prints the count
 *   tcp-sink HOST PORT                       accept one connection, print bytes received
 *   tcp-send HOST PORT BYTES                 send BYTES and close
 *   tcp-writes HOST PORT COUNT SIZE GAPMS    COUNT writes of SIZE bytes, GAPMS apart (Nagle off), then close;
 *                                            prints the local port once the peer has closed too
 *   tcp-echo HOST PORT                       echo every connection's bytes; prints "ready"
 *   tcp-rr HOST PORT MS SIZE                 request/response: one SIZE-byte message, wait for its echo, for MS ms; prints round trips
 *   tcp-try HOST PORT MS                     try to connect for at most MS ms; prints "connected" or the error code
 *   tcp-meter HOST PORT SKIPMS MS [GOFILE]   accept one connection; from SKIPMS after its first byte (or after GOFILE
 *                                            appears), count bytes for MS ms; prints {"bytes","seconds"}, then stops
 *                                            reading, and stays until killed (prints "ready" first)
 *   tcp-blast HOST PORT MS [GOFILE]          connect, (wait until GOFILE exists,) send as fast as possible for MS ms;
 *                                            prints "connected" at once, then the bytes written
 *   udp-count HOST PORT COUNT SIZE SPORT GOFILE  wait until GOFILE exists, open the socket, send COUNT datagrams one
 *                                            after the other; prints {"ok","failed","codes"}
 *   udp-sink HOST PORT IDLEMS                count datagrams until IDLEMS without one; prints the count ("ready" first)
 */
import { existsSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [cmd, host, portS, a, b, c] = process.argv.slice(2);
const port = Number(portS);
const family = host?.includes(':') ? 'udp6' : 'udp4';

async function main(): Promise<void> {
  if (cmd === 'udp-echo') {
    const s = createSocket(family);
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.bind(port, host, () => console.log('ready'));
    return;
  }
  if (cmd === 'udp-send' || cmd === 'udp-blast') {
    const count = Number(a);
    const payload = Buffer.alloc(Number(b), 0x61);
    const s = createSocket(family);
    await new Promise<void>((r) => s.bind(Number(c), undefined, r));
    let replies = 0;
    if (cmd === 'udp-blast') {
      for (let i = 0; i < count; i++) await new Promise<void>((r, j) => s.send(payload, port, host, (e) => (e ? j(e) : r())));
      console.log(count);
      s.close();
      return;
    }
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to datagram ${i}`)), 2000);
        s.once('message', () => {
          clearTimeout(timer);
          replies++;
          resolve();
        });
        s.send(payload, port, host);
      });
    }
    console.log(replies);
    s.close();
    return;
  }
  if (cmd === 'udp-flood') {
    const end = Date.now() + Number(a);
    const payload = Buffer.alloc(Number(b), 0x61);
    const s = createSocket(family);
    await new Promise<void>((r) => s.bind(Number(c), undefined, r));
    let sent = 0;
    while (Date.now() < end) {
      // 64 in flight at a time: fast, and every send is accounted for
      await Promise.all(Array.from({ length: 64 }, () => new Promise<void>((r, j) => s.send(payload, port, host, (e) => (e ? j(e) : r())))));
      sent += 64;
    }
    console.log(sent);
    s.close();
    return;
  }
  if (cmd === 'tcp-sink') {
    const srv = createServer((sock) => {
      let n = 0;
      sock.on('data', (d) => (n += d.length));
      sock.on('end', () => {
        console.log(n);
        sock.end();
        srv.close();
      });
    });
    srv.listen(port, host, () => console.log('ready'));
    return;
  }
  if (cmd === 'tcp-send') {
    const total = Number(a);
    const sock = connect(port, host, () => {
      const chunk = Buffer.alloc(65536, 0x62);
      let left = total;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!sock.write(chunk.subarray(0, n))) return void sock.once('drain', pump);
        }
        sock.end();
      };
      pump();
    });
    sock.on('data', () => undefined);
    sock.on('close', () => console.log(total));
    return;
  }
  if (cmd === 'tcp-writes') {
    const [count, size, gap] = [Number(a), Number(b), Number(c)];
    const sock = connect({ port, host, noDelay: true }, async () => {
      for (let i = 0; i < count; i++) {
        await new Promise<void>((r) => (sock.write(Buffer.alloc(size, 0x63)) ? r() : sock.once('drain', () => r())));
        if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      }
      sock.end();
    });
    const local = new Promise<number>((r) => sock.once('connect', () => r(sock.localPort!)));
    sock.on('data', () => undefined);
    sock.on('close', async () => console.log(await local));
    return;
  }
  if (cmd === 'tcp-echo') {
    createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('data', (d) => sock.write(d));
      sock.on('error', () => undefined);
    }).listen(port, host, () => console.log('ready'));
    return;
  }
  if (cmd === 'tcp-rr') {
    const [ms, size] = [Number(a), Number(b)];
    const msg = Buffer.alloc(size, 0x64);
    const sock = connect({ port, host, noDelay: true }, () => {
      const end = Date.now() + ms;
      let trips = 0;
      let got = 0;
      sock.on('data', (d) => {
        got += d.length;
        if (got < size) return;
        got -= size;
        trips++;
        if (Date.now() < end) sock.write(msg);
        else {
          console.log(trips);
          sock.destroy();
        }
      });
      sock.write(msg);
    });
    return;
  }
  if (cmd === 'tcp-try') {
    const sock = connect({ port, host });
    const timer = setTimeout(() => {
      console.log('timeout');
      sock.destroy();
    }, Number(a));
    sock.on('connect', () => {
      clearTimeout(timer);
      console.log('connected');
      sock.destroy();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      console.log(e.code ?? e.message);
    });
    return;
  }
  if (cmd === 'tcp-meter') {
    const [skip, ms, go] = [Number(a), Number(b), c];
    const srv = createServer((sock) => {
      srv.close();
      let counting = false;
      let n = 0;
      let start = 0;
      const gate = (f: () => void): void => {
        if (!go) return void sock.once('data', f);
        const poll = (): void => void (existsSync(go) ? f() : setTimeout(poll, 20));
        poll();
      };
      gate(() => {
        setTimeout(() => {
          counting = true;
          start = performance.now();
          setTimeout(() => {
            console.log(JSON.stringify({ bytes: n, seconds: (performance.now() - start) / 1000 }));
            counting = false;
            sock.pause(); // the sender blocks on a full window, and lives on until it stops by itself
            // A paused socket keeps no event loop alive: without this the meter would exit and reset the
            // connection while the test still looks at it (what a limit gives back at exit, say)
            setInterval(() => undefined, 60_000);
          }, ms);
        }, skip);
      });
      sock.on('data', (d) => {
        if (counting) n += d.length;
      });
      sock.on('error', () => undefined);
      sock.on('close', () => process.exit(0));
    });
    srv.listen(port, host, () => console.log('ready'));
    return;
  }
  if (cmd === 'tcp-blast') {
    const [ms, go] = [Number(a), b];
    const chunk = Buffer.alloc(65536, 0x65);
    let written = 0;
    const sock = connect({ port, host }, async () => {
      console.log('connected');
      if (go) while (!existsSync(go)) await new Promise((r) => setTimeout(r, 20));
      const end = Date.now() + ms;
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        sock.destroy();
        console.log(written);
      };
      // the deadline holds while a write waits for a drain that never comes (a receiver that stopped reading)
      const deadline = setTimeout(finish, ms);
      const pump = (): void => {
        while (!done && Date.now() < end) {
          written += chunk.length;
          if (!sock.write(chunk)) return void sock.once('drain', pump);
        }
        finish();
      };
      pump();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      console.error(`tcp-blast: ${e.code ?? e.message} after ${written} bytes`);
      console.log(written);
      process.exit(0);
    });
    return;
  }
  if (cmd === 'udp-count') {
    const [count, size, sport, go] = [Number(a), Number(b), Number(c), process.argv[8]!];
    while (!existsSync(go)) await new Promise((r) => setTimeout(r, 20));
    const payload = Buffer.alloc(size, 0x66);
    const s = createSocket(family);
    await new Promise<void>((r) => s.bind(sport, undefined, r));
    let ok = 0;
    const codes: Record<string, number> = {};
    for (let i = 0; i < count; i++)
      await new Promise<void>((r) =>
        s.send(payload, port, host, (e) => {
          if (e) codes[(e as NodeJS.ErrnoException).code ?? e.message] = (codes[(e as NodeJS.ErrnoException).code ?? e.message] ?? 0) + 1;
          else ok++;
          r();
        }),
      );
    console.log(JSON.stringify({ ok, failed: count - ok, codes }));
    s.close();
    return;
  }
  if (cmd === 'udp-sink') {
    const idle = Number(a);
    const s = createSocket({ type: family, recvBufferSize: 8 << 20 });
    let n = 0;
    let timer: NodeJS.Timeout | null = null;
    s.on('message', () => {
      n++;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        console.log(n);
        s.close();
      }, idle);
    });
    s.bind(port, host, () => console.log('ready'));
    return;
  }
  throw new Error(`unknown command ${cmd}`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
