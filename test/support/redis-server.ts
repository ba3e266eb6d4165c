// The private redis-server helper lives with the Redis package's tests; the root suites import it from here.

export * from '../../packages/redis/test/redis-server';
