package conformance

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// checkBuildClose builds an instance with a link each way and closes it.
func checkBuildClose(r *runner) error {
	links := []Link{r.out(r.resource(0))}
	if r.kind.Has(sdk.CapInbound) {
		links = append(links, r.in(r.resource(1)))
	}
	in, err := r.build(r.target, r.spec("build-close", links...))
	if err != nil {
		return err
	}
	return r.close(in)
}

// checkCloseTwice closes an instance twice: the second close returns promptly (an
// error is fine) and the process survives.
func checkCloseTwice(r *runner) error {
	in, err := r.build(r.target, r.spec("close-twice", r.out(r.resource(0))))
	if err != nil {
		return err
	}
	if err := r.close(in); err != nil {
		return fmt.Errorf("first %v", err)
	}
	ctx, cancel := r.timeout()
	defer cancel()
	_ = in.Close(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("the second close did not return within %s", r.cfg.Timeout)
	}
	select {
	case <-r.target.Exited():
		return fmt.Errorf("the plugin exited after the second close")
	default:
	}
	return nil
}

// checkPublishAfterClose publishes on a closed instance: it must fail with KindClosed.
func checkPublishAfterClose(r *runner) error {
	l := r.out(r.resource(0))
	in, err := r.build(r.target, r.spec("publish-after-close", l))
	if err != nil {
		return err
	}
	_ = r.close(in) // a failing close is the business of lifecycle/build-close
	start := time.Now()
	err = r.publish(in, l.ID, []byte("after close"))
	if e := kindIs("publishing after close", err, sdk.KindClosed); e != nil {
		return e
	}
	if d := time.Since(start); d > time.Second {
		return fmt.Errorf("publishing after close took %s to fail", d.Round(time.Millisecond))
	}
	return nil
}

// checkInstances runs three instances in the one process at once, each publishing to
// its own destination.
func checkInstances(r *runner) error {
	var ins []Instance
	var links []Link
	defer func() {
		for _, in := range ins {
			r.cleanup(in)
		}
	}()
	for i := 0; i < 3; i++ {
		l := r.out(r.resource(i))
		in, err := r.build(r.target, r.spec(fmt.Sprintf("instance-%d", i), l))
		if err != nil {
			return err
		}
		ins, links = append(ins, in), append(links, l)
	}
	for i, in := range ins {
		res := r.resource(i)
		ch, stop, err := r.observe(res)
		if err != nil {
			return err
		}
		payload := r.payload(fmt.Sprintf("i%d", i))
		err = r.publish(in, links[i].ID, payload)
		if err == nil {
			err = r.expect(ch, res, payload)
		}
		stop()
		if err != nil {
			return fmt.Errorf("instance %d: %w", i, err)
		}
	}
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() { errs[i] = r.close(in) })
	}
	wg.Wait()
	ins = nil
	return errors.Join(errs...)
}
