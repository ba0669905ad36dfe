package comment

import (
	"testing"
	"time"
)

func TestAppendTime(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"nanoseconds", time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), "2026-11-26T10:00:00.123456789Z"},
		{"whole second", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000000000Z"},
		{"one nanosecond", time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC), "2026-01-02T03:04:05.000000001Z"},
		{"converted to UTC", time.Date(2026, 11, 26, 11, 30, 0, 500, time.FixedZone("X", 90*60)), "2026-11-26T10:00:00.000000500Z"},
		{"end of year", time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), "1999-12-31T23:59:59.999999999Z"},
		{"zero time", time.Time{}, "0001-01-01T00:00:00.000000000Z"},
		{"Unix epoch", time.Unix(0, 0), "1970-01-01T00:00:00.000000000Z"},
		{"year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), "9999-12-31T00:00:00.000000000Z"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "10000-01-01T00:00:00.000000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendTime([]byte("x"), tt.t)); got != "x"+tt.want {
				t.Errorf("AppendTime = %q, want %q", got, "x"+tt.want)
			}
			if got := FormatTime(tt.t); got != tt.want {
				t.Errorf("FormatTime = %q, want %q", got, tt.want)
			}
			if got := tt.t.UTC().Format(TimeLayout); got != tt.want {
				t.Errorf("Format(TimeLayout) = %q, want %q", got, tt.want)
			}
			if tt.t.Year() <= 9999 {
				back, err := time.Parse(TimeLayout, tt.want)
				if err != nil || !back.Equal(tt.t) {
					t.Errorf("Parse(%q) = %v, %v; want %v", tt.want, back, err, tt.t)
				}
			}
		})
	}
}

func TestAppendTimeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	buf := make([]byte, 0, 64)
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() { buf = AppendTime(buf[:0], now) }); n != 0 {
		t.Errorf("AppendTime allocates %v times, want 0", n)
	}
}
