import time

async def measure(client, url, count, warmup=1, clock=time.perf_counter):
    """Latencies in milliseconds of `count` GETs of `url`, sent one after another after
    `warmup` untimed ones; a response that is not a success raises an error."""
    for _ in range(warmup):  # the first requests open the connection and fill caches: not timed
        (await client.get(url)).raise_for_status()
    latencies = []
    for _ in range(count):
        start = clock()
        response = await client.get(url)
        latencies.append((clock() - start) * 1000)
        response.raise_for_status()  # a fast error is not a fast answer
    return latencies
