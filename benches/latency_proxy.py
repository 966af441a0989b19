#!/usr/bin/env python3
"""A TCP proxy on loopback that holds each HTTP request for DELAY_MS before passing it on:
an S3 endpoint as far away as a real region (benches/s3_lake.sh).

    latency_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
"""
import asyncio
import sys

METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ")


async def pipe(reader, writer, delay):
    try:
        while data := await reader.read(1 << 16):
            # A chunk that starts a request (keep-alive connections carry many) waits.
            if delay and data.startswith(METHODS):
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(listen, target, delay):
    async def handle(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(client_r, server_w, delay), pipe(server_r, client_w, 0))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000))
