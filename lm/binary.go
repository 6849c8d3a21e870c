package lm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// binaryMagic starts every binary model file.
const binaryMagic = "CRLMBIN\x01"

// The binary format, all integers little-endian:
//
//	magic   [8]byte  "CRLMBIN\x01"
//	order   uint32
//	nwords  uint32
//	unk, bos, eos uint32
//	words   nwords × (uint32 length, bytes)
//	uniProb, uniBackoff  nwords × float32 bits each
//	per order k = 2..order: n uint32, slots uint64, stride uint32,
//	        data slots×stride uint32
//
// The hash tables are stored as they are in memory, so loading is a copy.

// WriteBinary writes m in the binary format that LoadModel reads.
func (m *Model) WriteBinary(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var scratch [8]byte
	u32 := func(v uint32) {
		binary.LittleEndian.PutUint32(scratch[:4], v)
		bw.Write(scratch[:4])
	}
	bw.WriteString(binaryMagic)
	u32(uint32(m.order))
	u32(uint32(len(m.words)))
	u32(uint32(m.unk))
	u32(uint32(m.bos))
	u32(uint32(m.eos))
	for _, s := range m.words {
		u32(uint32(len(s)))
		bw.WriteString(s)
	}
	for _, v := range m.uniProb {
		u32(math.Float32bits(v))
	}
	for _, v := range m.uniBackoff {
		u32(math.Float32bits(v))
	}
	buf := make([]byte, 0, 1<<16)
	for i := range m.tables {
		t := &m.tables[i]
		u32(uint32(t.n))
		binary.LittleEndian.PutUint64(scratch[:], t.slots)
		bw.Write(scratch[:])
		u32(uint32(t.stride))
		for j := 0; j < len(t.data); {
			buf = buf[:0]
			for ; j < len(t.data) && len(buf) < cap(buf); j++ {
				buf = binary.LittleEndian.AppendUint32(buf, t.data[j])
			}
			bw.Write(buf)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write binary model: %w", err)
	}
	return nil
}

// LoadModel reads a model in ARPA or binary format, told apart by the
// binary format's magic bytes.
func LoadModel(r io.Reader) (*Model, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(len(binaryMagic))
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("read model: %w", err)
	}
	if string(head) == binaryMagic {
		data, err := io.ReadAll(br)
		if err != nil {
			return nil, fmt.Errorf("read binary model: %w", err)
		}
		return ParseBinary(data)
	}
	a, err := ReadARPA(br)
	if err != nil {
		return nil, err
	}
	return NewModel(a)
}

// IsBinary reports whether data starts with the binary format's magic.
func IsBinary(data []byte) bool { return bytes.HasPrefix(data, []byte(binaryMagic)) }

// ParseBinary decodes a model written by WriteBinary.
func ParseBinary(data []byte) (*Model, error) {
	d := binDecoder{data: data}
	if !IsBinary(data) {
		return nil, fmt.Errorf("%w: missing binary magic", ErrFormat)
	}
	d.off = len(binaryMagic)
	order := d.u32()
	nwords := d.u32()
	if d.err != nil || order < 1 || order > MaxOrder || uint64(nwords)*4 > uint64(len(data)) {
		return nil, fmt.Errorf("%w: bad binary header", ErrFormat)
	}
	m := &Model{order: int(order), vocab: make(map[string]WordID, nwords), words: make([]string, nwords)}
	m.unk, m.bos, m.eos = WordID(d.u32()), WordID(d.u32()), WordID(d.u32())
	for i := range m.words {
		n := d.u32()
		s := d.bytes(int(n))
		if d.err != nil {
			return nil, d.err
		}
		m.words[i] = string(s)
		if _, dup := m.vocab[m.words[i]]; dup {
			return nil, fmt.Errorf("%w: duplicate word %q", ErrFormat, m.words[i])
		}
		m.vocab[m.words[i]] = WordID(i)
	}
	if int(m.unk) >= len(m.words) || int(m.bos) >= len(m.words) || int(m.eos) >= len(m.words) {
		return nil, fmt.Errorf("%w: special word id out of range", ErrFormat)
	}
	m.uniProb = d.floats(int(nwords))
	m.uniBackoff = d.floats(int(nwords))
	for k := 2; k <= int(order); k++ {
		n := d.u32()
		slots := d.u64()
		stride := d.u32()
		want := uint32(4)
		if k == int(order) {
			want = 3
		}
		if d.err != nil || stride != want || slots == 0 || uint64(n) > slots ||
			slots > uint64(len(data)-d.off)/4/uint64(stride) {
			return nil, fmt.Errorf("%w: bad %d-gram table header", ErrFormat, k)
		}
		t := hashTable{n: int(n), slots: slots, stride: int(stride)}
		t.data = d.words(int(slots) * int(stride))
		if d.err != nil {
			return nil, d.err
		}
		// Every probe must end at an empty slot.
		empty := 0
		for j := 0; j < len(t.data); j += t.stride {
			if t.data[j] == 0 && t.data[j+1] == 0 {
				empty++
			}
		}
		if empty == 0 || uint64(empty)+uint64(n) != slots {
			return nil, fmt.Errorf("%w: %d-gram table holds %d entries, header says %d", ErrFormat, k, slots-uint64(empty), n)
		}
		m.tables = append(m.tables, t)
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(data) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(data)-d.off)
	}
	return m, nil
}

type binDecoder struct {
	data []byte
	off  int
	err  error
}

func (d *binDecoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.data)-d.off {
		d.err = fmt.Errorf("%w: binary model truncated at byte %d", ErrFormat, d.off)
		return nil
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b
}

func (d *binDecoder) u32() uint32 {
	b := d.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (d *binDecoder) u64() uint64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *binDecoder) words(n int) []uint32 {
	b := d.bytes(4 * n)
	if b == nil {
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

func (d *binDecoder) floats(n int) []float32 {
	w := d.words(n)
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = math.Float32frombits(v)
	}
	return out
}
