package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Reading a bbolt file's pages without bbolt, for salvage: when a branch
// page (or the root) is damaged, bbolt cannot reach the leaf pages below it,
// although they are intact. Every page below the high-water mark that the
// free list does not name belongs to the current tree, so its leaf elements
// are current records: of the updates bucket when the key is a sequence
// number (8 bytes) and the value an epoch, an update_id and a JSON object;
// of the dead letters when the value is a JSON object. Pages that are
// neither a known kind nor part of an overflow are counted: only they can
// have held records that are lost. bbolt writes its pages in the machine's
// byte order; asgigram runs on little-endian machines.

// Page flags of bbolt's file format.
const (
	pageBranch   = 0x01
	pageLeaf     = 0x02
	pageMeta     = 0x04
	pageFreelist = 0x10
	leafBucket   = 0x01 // a leaf element that is a bucket
	pageHeader   = 16
	leafElement  = 16
)

// pageScan is what reading the pages directly found.
type pageScan struct {
	updates []stored
	dead    []deadRaw
	// unknown counts the pages in use that are neither a branch, a leaf, a
	// meta or the free list: damaged pages, whose records are lost.
	unknown int
}

// scanPages reads the bbolt file at path page by page.
func scanPages(path string, v4 bool) (pageScan, error) {
	var ps pageScan
	m, err := rawMeta(path)
	if err != nil {
		return ps, err
	}
	if m.freelist == ^uint64(0) {
		return ps, errors.New("the file keeps no free list: pages in use cannot be told from free ones")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ps, err
	}
	size := uint64(m.pageSize)
	page := func(id uint64) []byte {
		if (id+1)*size > uint64(len(data)) {
			return nil
		}
		return data[id*size : (id+1)*size]
	}
	le := binary.LittleEndian
	fl := page(m.freelist)
	if fl == nil || le.Uint16(fl[8:]) != pageFreelist {
		return ps, errors.New("the free list page is damaged: pages in use cannot be told from free ones")
	}
	span := data[m.freelist*size : min(uint64(len(data)), (m.freelist+m.freelistLength)*size)]
	count, at := uint64(le.Uint16(span[10:])), uint64(pageHeader)
	if count == 0xFFFF {
		count, at = le.Uint64(span[pageHeader:]), pageHeader+8
	}
	if at+8*count > uint64(len(span)) {
		return ps, errors.New("the free list runs past its pages")
	}
	free := make(map[uint64]bool, count)
	for i := range count {
		free[le.Uint64(span[at+8*i:])] = true
	}
	for id := uint64(2); id < m.hwm; id++ {
		if free[id] {
			continue
		}
		p := page(id)
		if p == nil || le.Uint64(p) != id {
			ps.unknown++
			continue
		}
		overflow := uint64(le.Uint32(p[12:]))
		end := min(uint64(len(data)), (id+1+overflow)*size)
		switch le.Uint16(p[8:]) {
		case pageLeaf:
			ps.leaf(data[id*size:end], "", v4)
		case pageBranch, pageFreelist, pageMeta:
		default:
			ps.unknown++
			continue
		}
		id += overflow
	}
	return ps, nil
}

// leaf reads the elements of the leaf page p: bucket names the bucket when
// it is known (an inline bucket), else the records are told by their shape.
func (ps *pageScan) leaf(p []byte, bucket string, v4 bool) {
	le := binary.LittleEndian
	if len(p) < pageHeader {
		return
	}
	n := int(le.Uint16(p[10:]))
	for i := range n {
		e := pageHeader + i*leafElement
		if e+leafElement > len(p) {
			return
		}
		flags, pos := le.Uint32(p[e:]), uint64(le.Uint32(p[e+4:]))
		ksize, vsize := uint64(le.Uint32(p[e+8:])), uint64(le.Uint32(p[e+12:]))
		start := uint64(e) + pos
		if start+ksize+vsize > uint64(len(p)) {
			continue
		}
		k, v := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
		if flags&leafBucket != 0 {
			// A bucket small enough to live inside its parent's page: a
			// header (root page, sequence) and, with root 0, its page.
			if len(v) > 16 && le.Uint64(v) == 0 {
				ps.leaf(v[16:], string(k), v4)
			}
			continue
		}
		if len(k) != 8 {
			continue
		}
		seq := binary.BigEndian.Uint64(k)
		switch {
		case bucket != string(bucketDead) && v4 && len(v) > 12 && v[12] == '{':
			ps.updates = append(ps.updates, stored{seq: seq, epoch: binary.BigEndian.Uint32(v), id: int64(binary.BigEndian.Uint64(v[4:])), raw: bytes.Clone(v[12:])})
		case bucket != string(bucketDead) && !v4 && len(v) > 8 && v[8] == '{':
			ps.updates = append(ps.updates, stored{seq: seq, id: int64(binary.BigEndian.Uint64(v)), raw: bytes.Clone(v[8:])})
		case bucket != string(bucketUpdates) && len(v) > 0 && v[0] == '{':
			ps.dead = append(ps.dead, deadRaw{id: seq, raw: bytes.Clone(v)})
		}
	}
}

// addPages adds what a direct reading of the pages finds and bbolt could
// not reach; it returns a note for the report.
func (c *contents) addPages() string {
	ps, err := scanPages(c.dbPath, c.format == format || c.format == "")
	if err != nil {
		return fmt.Sprintf("reading spool.db's pages directly was not possible: %v", err)
	}
	var added, addedDead int
	c.updates, added = appendUnseen(c.updates, ps.updates, func(u stored) uint64 { return u.seq })
	c.dead, addedDead = appendUnseen(c.dead, ps.dead, func(d deadRaw) uint64 { return d.id })
	c.pagesRead, c.pagesUnknown = true, ps.unknown
	return fmt.Sprintf("read spool.db's pages directly: %d more updates and %d more dead letters that bbolt could not reach; %d damaged pages", added, addedDead, ps.unknown)
}

// appendUnseen appends the elements of more whose key dst does not hold yet
// and returns dst and how many it added.
func appendUnseen[T any](dst, more []T, key func(T) uint64) ([]T, int) {
	seen := make(map[uint64]bool, len(dst))
	for _, x := range dst {
		seen[key(x)] = true
	}
	added := 0
	for _, x := range more {
		if k := key(x); !seen[k] {
			seen[k] = true
			dst = append(dst, x)
			added++
		}
	}
	return dst, added
}
