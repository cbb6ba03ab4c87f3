package memory

import "strconv"

// Every Redis key this package writes is built here.
//
// A bucket is one hash at "<ns>:{<ns>:<n>}". The hash tag holds the
// namespace as well as the bucket number, so two namespaces with the same
// bucket count do not land on the same slots: bucket 17 of "users" and
// bucket 17 of "posts" hash to unrelated slots, and each namespace's
// buckets spread evenly (CRC16 of distinct strings) over all slots and
// hence over all masters. A bucket is a single key, so it always lives in
// one slot; the tag exists only to pin that slot to a value that is a
// function of (namespace, bucket number) and nothing else.

// bucketKey returns the key of bucket n of namespace ns.
func bucketKey(ns string, n int) string {
	return ns + ":{" + ns + ":" + strconv.Itoa(n) + "}"
}

// metaKey returns the key that records a namespace's layout (the bucket
// count), so that processes configured differently do not silently read
// and write different buckets.
func metaKey(ns string) string {
	return ns + ":{" + ns + "}:meta"
}
