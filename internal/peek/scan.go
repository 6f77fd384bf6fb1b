package peek

import (
	"encoding/binary"
	"math/bits"
	"strconv"
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
// newline and carriage return. It does not check UTF-8 (encoding/json does
// not either); the callers that need it do.
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
}

// fail records that the input cannot be vouched for.
func (s *scanner) fail() {
	s.bad = true
	s.i = len(s.b)
}

// ws skips white space.
func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

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

// member advances to the next member of an object and reports whether
// there is one; n must start at 0, when member reads the opening brace
// (failing on anything else), and counts the members. The caller then
// reads the key (with key or foldedKey) and the value. At the closing
// brace, or on a failure, member returns false; n is then the number of
// members. When it returns true, the position is at the key's opening
// quote.
func (s *scanner) member(n *int) bool {
	if s.bad {
		return false
	}
	if *n == 0 {
		return s.firstMember(n)
	}
	switch s.peek() {
	case ',':
		s.i++
		*n++
		// Anything but a name after the comma fails, a trailing comma
		// included.
		if s.peek() == '"' {
			return true
		}
	case '}':
		s.i++
		s.depth--
		return false
	}
	s.fail()
	return false
}

// firstMember is member at the start of an object: it reads the opening
// brace and reports whether a member follows (rather than the closing
// brace of an empty object, which it reads too).
func (s *scanner) firstMember(n *int) bool {
	if s.peek() != '{' {
		s.fail()
		return false
	}
	s.i++
	s.depth++
	if s.depth > maxDepth {
		s.fail()
		return false
	}
	switch s.peek() {
	case '"':
		*n = 1
		return true
	case '}':
		s.i++
		s.depth--
		return false
	}
	s.fail()
	return false
}

// element advances to the next element of an array and reports whether
// there is one, as member does for objects.
func (s *scanner) element(n *int) bool {
	if !s.open(n, '[') {
		return false
	}
	if s.peek() == ']' && *n == 1 {
		s.i++
		s.depth--
		*n = 0
		return false
	}
	return !s.bad
}

// open does the first part of element (member, on the hot path, has its
// own): it reads the opening bracket before the first item (n is 0), or
// the comma between items; it returns false at the closing bracket
// (consumed) or on a failure. n is incremented for the item about to be
// read. The caller handles an empty array.
func (s *scanner) open(n *int, bracket byte) bool {
	closing := bracket + 2 // '}' or ']'
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
		*n = 1
		return true
	}
	switch s.peek() {
	case ',':
		s.i++
		*n++
		if c := s.peek(); c == closing {
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

// key reads a member name and the colon after it and returns the name. A
// name with an escape or a non-ASCII byte fails: encoding/json would
// unescape or case-fold it, and such names are too rare to be worth
// matching as it does. (A control character fails anyway.)
func (s *scanner) key() []byte {
	if !s.atQuote() {
		s.fail()
		return nil
	}
	b := s.b
	start := s.i + 1
	i := plainASCIIRun(b, start)
	if i >= len(b) || b[i] != '"' {
		s.fail()
		return nil
	}
	if i+1 < len(b) && b[i+1] == ':' {
		s.i = i + 2
	} else {
		s.i = i + 1
		s.spacedColon()
	}
	return b[start:i]
}

// atQuote skips white space and reports whether the next byte is a quote.
// It tests the byte at the position before skipping: after member, and
// for the values that follow a colon in compact JSON, it is already there.
func (s *scanner) atQuote() bool {
	if s.i < len(s.b) && s.b[s.i] == '"' {
		return true
	}
	return s.peek() == '"'
}

// foldedKey is key for an object that encoding/json decodes into a plain
// struct, whose fields it matches without regard to case: it returns the
// name in lower case, in buf. A name longer than buf cannot name a field
// and is returned as it is.
func (s *scanner) foldedKey(buf *[maxKeyLen]byte) []byte {
	k := s.key()
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

// anyKey reads any member name and the colon after it.
func (s *scanner) anyKey() {
	s.str()
	s.colon()
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

// isSpecial reports a quote, a backslash or a control character: the
// bytes that end a run of plain string bytes.
func isSpecial(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }

// str reads a string and returns its bytes between the quotes (as they
// are, not unescaped) and whether it has an escape.
func (s *scanner) str() (raw []byte, esc bool) {
	if !s.atQuote() {
		s.fail()
		return nil, false
	}
	b := s.b
	start := s.i + 1
	i := start
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			s.fail()
			return nil, false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc
		case c == '\\':
			esc = true
			n := escapeLen(b[i:])
			if n == 0 {
				s.fail()
				return nil, false
			}
			i += n
		default: // a control character
			s.fail()
			return nil, false
		}
	}
}

// plainRun returns the index of the first quote, backslash or control
// character in b at or after i, or len(b). It reads 8 bytes at a time.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := specials(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && !isSpecial(b[i]) {
		i++
	}
	return i
}

// plainASCIIRun returns the index of the first quote, backslash, control
// character or non-ASCII byte in b at or after i, or len(b): the end of a
// member name that key accepts. Member names are short, so a table lookup
// per byte beats reading words.
func plainASCIIRun(b []byte, i int) int {
	for i < len(b) && nameByte[b[i]] {
		i++
	}
	return i
}

// nameByte tells the bytes that plainASCIIRun reads on: printable ASCII
// other than the quote and the backslash.
var nameByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

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
		for n := 0; s.member(&n); {
			s.anyKey()
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

// strOrNull reads a string or null: what encoding/json accepts for a
// string or a *string field.
func (s *scanner) strOrNull() {
	if !s.null() {
		s.str()
	}
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
	if s.null() {
		return 0, true
	}
	tok, integer := s.number()
	if !integer {
		s.fail()
		return 0, false
	}
	v, err := parseInt(tok, bits)
	if err != nil {
		s.fail()
	}
	return v, false
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
	tok, _ := s.number()
	if s.bad {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		s.fail()
	}
	return v, false
}
