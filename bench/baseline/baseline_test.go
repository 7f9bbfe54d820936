package baseline

import (
	"context"
	"testing"
	"time"
)

// TestRunDelivers checks that a short run delivers whole frames to every subscriber.
func TestRunDelivers(t *testing.T) {
	res, err := Run(context.Background(), Config{Subscribers: 4, FrameSize: 64, Batch: 8, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deliveries < 4*8 {
		t.Fatalf("only %d deliveries", res.Deliveries)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Fatal("want an error for an empty config")
	}
}
