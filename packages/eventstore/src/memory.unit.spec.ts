import { InMemoryEventStore } from './memory';
import { testEventStore } from './testing';

testEventStore('in-memory', async () => {
  const store = new InMemoryEventStore();
  return { store, teardown: () => store.close() };
});
