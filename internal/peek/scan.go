package peek

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// maxDepth caps the nesting of arrays and objects the scanner follows.
// encoding/json allows 10000 levels; deeper input is left to it.
const maxDepth = 1000

// maxKeyLen is the longest member name that can name a modelled field;
// longer names are never fields.
const maxKeyLen = 24

// scanner reads one JSON text with the syntax rules of encoding/json: the
// grammar of RFC 8259, no control characters in strings, only the escapes
// \" \\ \/ \b \f \n \r \t \uXXXX, and white space limited to space, tab,
// newline and carriage return. It checks UTF-8 only when utf8 is set
// (encoding/json does not, it replaces invalid bytes; the answer side
// needs valid UTF-8): then the strings it reads fail on invalid UTF-8,
// and as member refuses non-ASCII names and a JSON text is ASCII outside
// its strings (any other byte fails the syntax), a text the scanner reads
// to its end without failing is valid UTF-8 as a whole, without a
// separate pass over it.
//
// Errors are sticky: the first failure sets bad and moves the position to
// the end, so that every later read fails too and loops end. The shape
// checkers thus read on without testing after each step, and the caller
// tests bad once at the end.
type scanner struct {
	b     []byte
	i     int
	depth int
	bad   bool
	utf8  bool   // fail on invalid UTF-8 in strings
	name  []byte // the name of the member read last, see member
}

// fail records that the input cannot be vouched for.
func (s *scanner) fail() {
	s.bad = true
	s.i = len(s.b)
}

// ws skips white space.
func (s *scanner) ws() {
	s.peek()
}

// peek skips white space and returns the next byte, or 0 at the end. It
// is small enough to inline (a call to a slow path would not be).
func (s *scanner) peek() byte {
	for s.i < len(s.b) {
		if c := s.b[s.i]; c > ' ' || !isSpace(c) {
			return c
		}
		s.i++
	}
	return 0
}

// isSpace reports the white space of JSON.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// at skips white space and returns the position.
func (s *scanner) at() int {
	s.ws()
	return s.i
}

// end reports whether only white space is left and nothing failed.
func (s *scanner) end() bool {
	s.ws()
	return !s.bad && s.i == len(s.b)
}

// member advances to the next member of an object, reads its name and
// the colon after it, and reports whether there is one; the name is then
// in s.name, until the next call, and the caller reads the value. n must
// start at 0, when member reads the opening brace (failing on anything
// else); it counts the members. At the closing brace, or on a failure,
// member returns false.
//
// A name with an escape or a non-ASCII byte fails: encoding/json would
// unescape or case-fold it, and such names are too rare to be worth
// matching as it does. (A control character fails anyway.) skip, which
// needs no names, reads the members of any object with anyMember.
func (s *scanner) member(n *int) bool {
	// The common cases first, as next and quote would read them, in
	// compact JSON: a comma right after the previous value and the next
	// name right after it, the closing brace right after the last value,
	// or the opening brace right before the first name. (After a failure
	// s.i is len(s.b), which none of them takes.)
	b, i := s.b, s.i
	switch {
	case i+1 < len(b) && b[i] == ',' && b[i+1] == '"' && *n > 0:
		i++
		*n++
	case i < len(b) && b[i] == '}' && *n > 0:
		s.i = i + 1
		s.depth--
		return false
	case i+1 < len(b) && b[i] == '{' && b[i+1] == '"' && *n == 0 && s.depth < maxDepth:
		i++
		s.depth++
		*n = 1
	default:
		if !s.next(n, '{') {
			return false
		}
		if i = s.quote(); i < 0 {
			return false
		}
	}
	// i is at the quote that opens the name.
	start := i + 1
	// asciiRun(b, start), with its loop here rather than behind a call:
	// most names take one read.
	for i = start; ; i += 8 {
		if i+8 > len(b) {
			i = asciiRun(b, i)
			break
		}
		if m := specialsOrHigh(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			break
		}
	}
	if i >= len(b) || b[i] != '"' {
		s.fail()
		return false
	}
	s.name = b[start:i]
	if i+1 < len(b) && b[i+1] == ':' {
		s.i = i + 2
		return true
	}
	s.i = i + 1
	s.spacedColon()
	return !s.bad
}

// anyMember is member for an object whose names do not matter: it reads
// any name, and does not set s.name.
func (s *scanner) anyMember(n *int) bool {
	if !s.next(n, '{') {
		return false
	}
	s.str()
	s.colon()
	return !s.bad
}

// element advances to the next element of an array and reports whether
// there is one; n must start at 0 and counts the elements.
func (s *scanner) element(n *int) bool {
	return s.next(n, '[')
}

// next reads what comes before an item of an array or an object (bracket
// is '[' or '{'): the opening bracket before the first one (n is 0), or
// the comma between two; it reports whether an item follows, and
// increments n. At the closing bracket (an empty array or object
// included) it reads it and returns false; it fails on a trailing comma.
func (s *scanner) next(n *int, bracket byte) bool {
	closing := bracket + 2 // ']' or '}'
	if s.bad {
		return false
	}
	if *n == 0 {
		if s.peek() != bracket {
			s.fail()
			return false
		}
		s.i++
		s.depth++
		if s.depth > maxDepth {
			s.fail()
			return false
		}
		if s.peek() == closing {
			s.i++
			s.depth--
			return false
		}
		*n = 1
		return true
	}
	switch s.peek() {
	case ',':
		s.i++
		*n++
		if s.peek() == closing {
			s.fail() // a trailing comma
			return false
		}
		return true
	case closing:
		s.i++
		s.depth--
		return false
	}
	s.fail()
	return false
}

// quote skips white space and returns the position of the quote that
// opens a string, or fails and returns -1 when there is none.
func (s *scanner) quote() int {
	if s.peek() != '"' {
		s.fail()
		return -1
	}
	return s.i
}

// foldedName is s.name for an object that encoding/json decodes into a
// plain struct, whose fields it matches without regard to case: it
// returns the name in lower case, in buf. A name longer than buf cannot
// name a field and is returned as it is.
func (s *scanner) foldedName(buf *[maxKeyLen]byte) []byte {
	k := s.name
	if len(k) > len(buf) {
		return k
	}
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(k)]
}

// colon reads the colon after a member name.
func (s *scanner) colon() {
	if s.i < len(s.b) && s.b[s.i] == ':' {
		s.i++
		return
	}
	s.spacedColon()
}

// spacedColon is colon when white space comes before the colon (or the
// colon is missing).
func (s *scanner) spacedColon() {
	if s.peek() != ':' {
		s.fail()
		return
	}
	s.i++
}

// once fails when the field bit is in seen already, and adds it. A
// modelled member given twice is left to encoding/json, whose handling of
// duplicates (the last one wins, merged into what the first one set)
// depends on the type.
func (s *scanner) once(seen *uint32, bit uint32) {
	if *seen&bit != 0 {
		s.fail()
	}
	*seen |= bit
}

// Byte masks for the word-at-a-time string scan.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specials returns a mask with the high bit set in the bytes of x (read
// little-endian) that hold a quote, a backslash or a control character.
// Bytes after the first such byte may be marked by mistake (a borrow
// carries over), never the bytes before it, nor is a special byte missed:
// the lowest marked byte is the first special one.
func specials(x uint64) uint64 {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs
}

// specialsOrHigh is specials that also marks the non-ASCII bytes, with
// the same guarantee: the lowest marked byte is the first quote,
// backslash, control character or non-ASCII byte. Marking the non-ASCII
// bytes makes it cheaper: specials must clear the high bits that the
// subtractions set in such bytes ("&^ x"), this needs not. For a byte b
// without a borrow from below, b-0x20 has its high bit set only when
// b < 0x20 or b >= 0xa0, and (b^'"')-1 only when b is '"' or b >= 0x80
// (the xor keeps the high bit); likewise for the backslash; and x marks
// every b >= 0x80.
func specialsOrHigh(x uint64) uint64 {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return (x | (x - ones*0x20) | (q - ones) | (bs - ones)) & highs
}

// isSpecial reports a quote, a backslash or a control character: the
// bytes that end a run of plain string bytes.
func isSpecial(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }

// str reads a string and returns its bytes between the quotes (as they
// are, not unescaped) and whether it has an escape. With s.utf8 it fails
// on invalid UTF-8 too.
func (s *scanner) str() (raw []byte, esc bool) {
	raw, esc, _ = s.text(false)
	return raw, esc
}

// strOrNull reads a string or null: what encoding/json accepts for a
// string or a *string field. It returns what str does, and whether there
// was a null.
func (s *scanner) strOrNull() (raw []byte, esc, null bool) {
	return s.text(true)
}

// text is str, and strOrNull when nullOK.
func (s *scanner) text(nullOK bool) (raw []byte, esc, null bool) {
	switch s.peek() {
	case '"':
	case 'n':
		if nullOK {
			s.literal("null")
			return nil, false, true
		}
		fallthrough
	default:
		s.fail()
		return nil, false, false
	}
	b := s.b
	start := s.i + 1
	i := start
	for {
		// Skip plain ASCII bytes, 8 at a time, as asciiRun does but
		// without a call: most strings take a read or two, then end.
		if i+8 > len(b) {
			i = asciiRun(b, i)
		} else if m := specialsOrHigh(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
		} else {
			i += 8
			continue
		}
		if i >= len(b) {
			s.fail()
			return nil, false, false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc, false
		case c == '\\':
			esc = true
			n := escapeLen(b[i:])
			if n == 0 {
				s.fail()
				return nil, false, false
			}
			i += n
		case c < utf8.RuneSelf: // a control character
			s.fail()
			return nil, false, false
		case s.utf8:
			if i = utf8Run(b, i); i < 0 {
				s.fail()
				return nil, false, false
			}
		default:
			// Without s.utf8 non-ASCII bytes need no check: skip to the
			// next quote, backslash or control character.
			i = plainRun(b, i)
		}
	}
}

// plainRun returns the index of the first quote, backslash or control
// character in b at or after i (at most len(b)), or len(b). It reads 8
// bytes at a time.
func plainRun(b []byte, i int) int {
	rest := b[i:]
	for len(rest) >= 8 {
		if m := specials(binary.LittleEndian.Uint64(rest)); m != 0 {
			return len(b) - len(rest) + bits.TrailingZeros64(m)>>3
		}
		rest = rest[8:]
	}
	for len(rest) > 0 && !isSpecial(rest[0]) {
		rest = rest[1:]
	}
	return len(b) - len(rest)
}

// asciiRun returns the index of the first quote, backslash, control
// character or non-ASCII byte in b at or after i (at most len(b)), or
// len(b): the end of a member name that member accepts, or of a run of
// string bytes that need no check. It reads 8 bytes at a time, and the
// last few bytes of b in one read too. (member and text have its loop
// inline, and call it for the last few bytes.)
func asciiRun(b []byte, i int) int {
	rest := b[i:]
	for len(rest) >= 8 {
		if m := specialsOrHigh(binary.LittleEndian.Uint64(rest)); m != 0 {
			return len(b) - len(rest) + bits.TrailingZeros64(m)>>3
		}
		rest = rest[8:]
	}
	if len(rest) == 0 || len(b) < 8 {
		for len(rest) > 0 && rest[0] < utf8.RuneSelf && !isSpecial(rest[0]) {
			rest = rest[1:]
		}
		return len(b) - len(rest)
	}
	// Fewer than 8 bytes are left: read the last 8 bytes of b and shift
	// out those before rest. The zero bytes shifted in at the top count as
	// control characters, so that at worst the first of them, at
	// len(rest), is marked.
	x := binary.LittleEndian.Uint64(b[len(b)-8:]) >> (64 - 8*len(rest))
	return len(b) - len(rest) + bits.TrailingZeros64(specialsOrHigh(x))>>3
}

// utf8Run returns the index of the first ASCII byte in b at or after i,
// or len(b), when the bytes before it are valid UTF-8, and -1 when they
// are not. A sequence cut by the end of b or by an ASCII byte is invalid.
func utf8Run(b []byte, i int) int {
	for i < len(b) && b[i] >= utf8.RuneSelf {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return -1
		}
		i += n
	}
	return i
}

// escapeLen returns the length of the escape sequence at the start of b,
// or 0 when it is not a valid one.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		for _, c := range b[2:6] {
			if !isHex(c) {
				return 0
			}
		}
		return 6
	}
	return 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number reads a number and returns its bytes and whether it is an
// integer (no fraction, no exponent).
func (s *scanner) number() (tok []byte, integer bool) {
	s.ws()
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		s.fail()
		return nil, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		if i = digits(b, i+1); i < 0 {
			s.fail()
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(b, i); i < 0 {
			s.fail()
			return nil, false
		}
	}
	s.i = i
	return b[start:i], integer
}

// digits returns the index after the run of digits at b[i:], or -1 when
// there is none.
func digits(b []byte, i int) int {
	start := i
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// literal reads the literal word (true, false or null).
func (s *scanner) literal(word string) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		s.fail()
		return
	}
	s.i += len(word)
}

// skipChunkObject reads the quoted object of a chat chunk,
// "chat.completion.chunk", when it is at the position, and reports
// whether it was; when it was not, it reads nothing (and does not fail).
// (Compared in two parts of at most 16 bytes, the string takes a few
// loads of words; compared as a whole, a call to memequal.)
func (s *scanner) skipChunkObject() bool {
	const head, tail = `"chat.completion`, `.chunk"` // `"` + chunkObject + `"`
	b, i := s.b, s.i
	if len(b)-i >= len(head)+len(tail) && string(b[i:i+len(head)]) == head &&
		string(b[i+len(head):i+len(head)+len(tail)]) == tail {
		s.i = i + len(head) + len(tail)
		return true
	}
	return false
}

// null reads a null and reports whether there was one; it reports true on
// a failure too, so that the caller reads no further.
func (s *scanner) null() bool {
	switch s.peek() {
	case 'n':
		s.literal("null")
		return true
	case 0:
		s.fail()
		return true
	}
	return false
}

// skip reads any value.
func (s *scanner) skip() {
	switch s.peek() {
	case '{':
		for n := 0; s.anyMember(&n); {
			s.skip()
		}
	case '[':
		for n := 0; s.element(&n); {
			s.skip()
		}
	case '"':
		s.str()
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	default:
		s.number()
	}
}

// value reads any value and returns its bytes.
func (s *scanner) value() []byte {
	s.ws()
	start := s.i
	s.skip()
	if s.bad {
		return nil
	}
	return s.b[start:s.i]
}

// boolOrNull reads true, false or null (false): what encoding/json accepts
// for a bool or a *bool field.
func (s *scanner) boolOrNull() bool {
	switch s.peek() {
	case 't':
		s.literal("true")
		return true
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	default:
		s.fail()
	}
	return false
}

// intOrNull reads an integer of the given bit size or null (0): what
// encoding/json accepts for an int, int64, *int or *int64 field. It
// reports whether there was a null.
func (s *scanner) intOrNull(bits int) (v int64, null bool) {
	switch c := s.peek(); {
	case c == 'n':
		s.literal("null")
		return 0, true
	case c == 0:
		s.fail()
		return 0, true
	case '0' <= c && c <= '9' && bits == 64:
		// The common integers, without a sign and with at most 18 digits
		// (which fit an int64), in one pass here; the others take
		// anyInt.
		b, start := s.b, s.i
		i := start
		var u uint64
		// The first eight digits at once when there are that many, as
		// in a timestamp.
		if i+8 <= len(b) {
			if x := binary.LittleEndian.Uint64(b[i:]); eightDigits(x) {
				u = eightDigitsValue(x)
				i += 8
			}
		}
		for end := min(len(b), start+18); i < end; i++ {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			u = u*10 + uint64(d)
		}
		// Not more digits, a fraction or an exponent; nor a leading zero
		// and more digits (number reads the zero alone, and the digits
		// fail next).
		if (i == len(b) || !isNumberByte(b[i])) && (b[start] != '0' || i == start+1) {
			s.i = i
			return int64(u), false
		}
	}
	return s.anyInt(bits), false
}

// anyInt reads an integer of the given bit size.
func (s *scanner) anyInt(bits int) int64 {
	tok, integer := s.number()
	if !integer {
		s.fail()
		return 0
	}
	v, err := parseInt(tok, bits)
	if err != nil {
		s.fail()
	}
	return v
}

// isNumberByte reports the bytes that can go on a number after a digit.
func isNumberByte(c byte) bool { return isDigit(c) || c == '.' || c == 'e' || c == 'E' }

// eightDigits reports whether the 8 bytes of x are all ASCII digits: the
// high nibble of each is 3, and stays 3 when 6 is added (0x3a-0x3f carry
// into it). A byte of 0xfa or more, which could carry into the next one,
// fails the first test already.
func eightDigits(x uint64) bool {
	const nibbles = 0xf0f0f0f0f0f0f0f0
	return x&nibbles == ones*'0' && (x+ones*6)&nibbles == ones*'0'
}

// eightDigitsValue returns the value of the 8 ASCII digits in x (the first
// one in the low byte), with three multiplications instead of eight: the
// digits are combined in pairs, then the pairs in fours, then the fours
// (D. Lemire, "Fast numeric string parsing", 2022).
func eightDigitsValue(x uint64) uint64 {
	x -= ones * '0'
	x = x*10 + x>>8 // bytes 0, 2, 4 and 6 hold two-digit values
	const mask = 0x000000ff000000ff
	return uint64(uint32((x&mask*(100+1000000<<32) + (x>>16)&mask*(1+10000<<32)) >> 32))
}

// parseInt is strconv.ParseInt(string(tok), 10, bits) for a JSON integer,
// without converting tok to a string when it is short.
func parseInt(tok []byte, bits int) (int64, error) {
	if len(tok) > 18 || bits < 64 {
		return strconv.ParseInt(string(tok), 10, bits)
	}
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	var v int64
	for _, c := range tok {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}

// floatOrNull reads a number that fits a float64 or null: what
// encoding/json accepts for a float64 or *float64 field. It reports
// whether there was a null.
func (s *scanner) floatOrNull() (v float64, null bool) {
	if s.null() {
		return 0, true
	}
	tok, integer := s.number()
	if s.bad {
		return 0, false
	}
	if integer && len(tok) <= 15 {
		// At most 15 digits, below 2^53: the value is exact as a
		// float64, as ParseFloat returns it. (Negating after the
		// conversion makes "-0" the -0 that ParseFloat returns.)
		n, _ := parseInt(tok, 64)
		if tok[0] == '-' {
			return -float64(-n), false
		}
		return float64(n), false
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		s.fail()
	}
	return v, false
}
