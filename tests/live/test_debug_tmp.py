import asyncio
import httpx, redis
from sentinel.config import Settings
from tests.ingest.support import new_org
from tests.live.feed import open_feed, recording


async def test_debug(https: httpx.Client, settings: Settings, redis_client: redis.Redis) -> None:
    a, b = new_org(https), new_org(https)
    async with recording(open_feed(settings, a.org_id, token=a.owner.access_token)) as fa:
        async with recording(open_feed(settings, b.org_id, token=b.owner.access_token)) as fb:
            await asyncio.sleep(0.5)
            print(redis_client.execute_command("PUBSUB", "CHANNELS"))
            print(redis_client.publish(f"live:{a.org_id}", '{"type":"x","n":1}'))
            print(redis_client.publish(f"live:{b.org_id}", '{"type":"x","n":2}'))
            await asyncio.sleep(3)
            print("A", fa.events)
            print("B", fb.events)
            print(redis_client.publish(f"live:{b.org_id}", '{"type":"x","n":3}'))
            await asyncio.sleep(3)
            print("B", fb.events)
