/** The throttle counters' backends for tests: SQLite, PostgreSQL and Redis, each with a second "node". */
import {
  RedisThrottleCounter,
  StoreThrottleCounter,
  type ThrottleCounter,
} from '../../src/services/throttle.js';
import { freshRedisPrefix, redisUrl, skipRedis } from './redis.js';
import { dialects } from './stores.js';

export interface CounterBackend {
  name: string;
  skip: boolean;
  /**
   * The counter and a second one over the same data (another node), which race each other (on
   * SQLite a second connection to the file: the store waits for the other's write lock without
   * blocking the event loop, src/store/sqlite-lock.ts).
   */
  open(): Promise<{
    counter: ThrottleCounter;
    peer: ThrottleCounter;
    dispose(): Promise<void>;
  }>;
}

export function counterBackends(): CounterBackend[] {
  return [
    ...dialects().map((dialect) => ({
      name: dialect.name,
      skip: dialect.skip,
      async open() {
        const ts = await dialect.open();
        return {
          counter: new StoreThrottleCounter(ts.store),
          peer: new StoreThrottleCounter(await ts.openPeer()),
          dispose: () => ts.dispose(),
        };
      },
    })),
    {
      name: 'redis',
      skip: skipRedis(),
      async open() {
        const prefix = freshRedisPrefix();
        const counter = new RedisThrottleCounter(redisUrl(), prefix);
        const peer = new RedisThrottleCounter(redisUrl(), prefix);
        return {
          counter,
          peer,
          async dispose() {
            await counter.close();
            await peer.close();
          },
        };
      },
    },
  ];
}
