# Keep-alive load: N connections, each sends POSTs with a 1 KiB JSON body and reads the answers.
import asyncio, sys, time
port, conns, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
body = (b'{"event":"channel.started","pad":"' + b'x' * 980 + b'"}')
req = (b"POST /hooks/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
done = 0
async def one():
    global done
    r, w = await asyncio.open_connection("127.0.0.1", port)
    end = time.time() + secs
    while time.time() < end:
        w.write(req * 8); await w.drain()
        for _ in range(8):
            head = await r.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
            if n: await r.readexactly(n)
            done += 1
    w.close()
async def main():
    await asyncio.gather(*[one() for _ in range(conns)])
asyncio.run(main()); print("answers", done)
