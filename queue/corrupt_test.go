package queue

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rediskit/rediskit/internal/redistest"
)

// TestGettersReportCorruptJobs: GetJob and Jobs return a job whose hash
// cannot be decoded together with an error naming the bad fields; Jobs
// still returns the good jobs of the page.
func TestGettersReportCorruptJobs(t *testing.T) {
	redistest.ForEach(t, func(t *testing.T, tg redistest.Target) {
		e := newEnv(t, tg)
		ctx := context.Background()
		good := e.add(t, "good", map[string]int{})
		bad := e.add(t, "bad", map[string]int{})
		e.rdb.HSet(ctx, e.q.k.job(bad), "data", "{not json", "attemptsMade", "x")
		j, err := e.q.GetJob(ctx, bad)
		if !errors.Is(err, ErrCorruptJob) || j == nil || j.ID != bad {
			t.Fatalf("GetJob(corrupt) = %v, %v; want the job and ErrCorruptJob", j, err)
		}
		for _, want := range []string{"data (not JSON)", "attemptsMade", "get job " + bad} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("GetJob error %q does not mention %q", err, want)
			}
		}
		jobs, err := e.q.Jobs(ctx, StateWaiting, 0, 10)
		if !errors.Is(err, ErrCorruptJob) {
			t.Errorf("Jobs with a corrupt job: err = %v, want ErrCorruptJob", err)
		}
		if len(jobs) != 2 || jobs[0].ID != good {
			t.Errorf("Jobs = %v, want both jobs (good first)", jobs)
		}
		if j, err := e.q.GetJob(ctx, good); err != nil || j.Name != "good" {
			t.Errorf("GetJob(good) = %v, %v", j, err)
		}
	})
}
