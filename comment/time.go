package comment

import "time"

// TimeLayout is the layout of every timestamp the service shows: RFC 3339 in
// UTC with exactly nine fractional digits, as in
// 2026-11-26T10:00:00.123456789Z. It parses with time.Parse.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendTime appends t in TimeLayout (converted to UTC) to dst and returns
// the extended slice. It does not allocate when dst has room for the 30
// bytes. Years outside 0000–9999, which RFC 3339 cannot express, are
// formatted by time.AppendFormat with the same layout.
//
// It is on the path of every JSON response, hence the hand-written digits.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeLayout)
	}
	hour, minute, sec := t.Clock()
	ns := t.Nanosecond()

	var b [30]byte // "2006-01-02T15:04:05.000000000Z"
	b[0] = byte('0' + year/1000)
	b[1] = byte('0' + year/100%10)
	b[2] = byte('0' + year/10%10)
	b[3] = byte('0' + year%10)
	b[4] = '-'
	put2(b[5:], int(month))
	b[7] = '-'
	put2(b[8:], day)
	b[10] = 'T'
	put2(b[11:], hour)
	b[13] = ':'
	put2(b[14:], minute)
	b[16] = ':'
	put2(b[17:], sec)
	b[19] = '.'
	for i := 28; i >= 20; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
	b[29] = 'Z'
	return append(dst, b[:]...)
}

func put2(b []byte, v int) {
	b[0] = byte('0' + v/10)
	b[1] = byte('0' + v%10)
}

// FormatTime returns t in TimeLayout, in UTC (see AppendTime).
func FormatTime(t time.Time) string {
	var buf [32]byte
	return string(AppendTime(buf[:0], t))
}
