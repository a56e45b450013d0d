import asyncio, time
import httpx, redis
from sentinel.config import Settings
from tests.ingest.support import new_org, new_device, connected
from tests.live.feed import open_feed, recording


async def test_debug(https: httpx.Client, settings: Settings, redis_client: redis.Redis) -> None:
    a, b = new_org(https), new_org(https)
    da, db = new_device(https, a), new_device(https, b)
    ps = redis_client.pubsub()
    ps.psubscribe("live:*")
    with connected(settings, da) as ca, connected(settings, db) as cb:
        async with recording(open_feed(settings, a.org_id, token=a.owner.access_token)) as fa:
            async with recording(open_feed(settings, b.org_id, token=b.owner.access_token)) as fb:
                for i in range(3):
                    await asyncio.to_thread(ca.send_samples, [100+i], cpu_pct=1.0)
                    await asyncio.to_thread(cb.send_samples, [200+i], cpu_pct=1.0)
                    await asyncio.sleep(0.5)
                await asyncio.sleep(2)
                print("A", fa.events)
                print("B", fb.events)
                print("receipts", ca.receipts, cb.receipts)
                while (m := ps.get_message(timeout=0.1)):
                    print(m)
    ps.close()
