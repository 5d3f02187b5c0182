/** The object-store port and its filesystem adapter live in @haven/service (the chat's files use them too). */
export { FsObjectStore, StorageFullError } from '@haven/service';
export type { ObjectRange, ObjectStore, PutResult } from '@haven/service';
