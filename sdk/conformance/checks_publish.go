package conformance

import (
	"fmt"
	"sync"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// publishOne builds an instance linked to resource 0, publishes payload and waits for
// the peer to see it.
func (r *runner) publishOne(name string, payload []byte) error {
	res := r.resource(0)
	l := r.out(res)
	in, err := r.build(r.target, r.spec(name, l))
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	ch, stop, err := r.observe(res)
	if err != nil {
		return err
	}
	defer stop()
	if err := r.publish(in, l.ID, payload); err != nil {
		return fmt.Errorf("publish of %d bytes: %w", len(payload), err)
	}
	return r.expect(ch, res, payload)
}

func checkPublishSingle(r *runner) error {
	return r.publishOne("publish-single", []byte(fmt.Sprintf("single %d", time.Now().UnixNano())))
}

func checkPublishEmpty(r *runner) error {
	return r.publishOne("publish-empty", []byte{})
}

// checkPublishBinary sends every byte value, in as few messages as the max payload allows.
func checkPublishBinary(r *runner) error {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for len(all) > 0 {
		n := min(len(all), r.maxPayload())
		if err := r.publishOne("publish-binary", all[:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// maxPayload is the largest payload the kind takes.
func (r *runner) maxPayload() int {
	if r.kind.MaxPayload > 0 {
		return r.kind.MaxPayload
	}
	return pluginwire.MaxPayloadBytes
}

func checkPublishLargest(r *runner) error {
	n := r.maxPayload()
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	copy(p, fmt.Sprintf("largest %d ", time.Now().UnixNano()))
	return r.publishOne("publish-largest", p)
}

func checkPublishTooLarge(r *runner) error {
	if r.kind.MaxPayload <= 0 {
		return skipf("the kind declares no max payload; the host enforces the boundary's limit")
	}
	l := r.out(r.resource(0))
	in, err := r.build(r.target, r.spec("publish-too-large", l))
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	err = r.publish(in, l.ID, make([]byte, r.kind.MaxPayload+1))
	return kindIs(fmt.Sprintf("publishing %d bytes (max payload %d)", r.kind.MaxPayload+1, r.kind.MaxPayload), err, sdk.KindMessageTooLarge)
}

// checkPublishParallel publishes 20 messages to each of three destinations at once and
// checks each destination got exactly its messages.
func checkPublishParallel(r *runner) error {
	const per = 20
	var links []Link
	for i := 0; i < 3; i++ {
		links = append(links, r.out(r.resource(i)))
	}
	in, err := r.build(r.target, r.spec("publish-parallel", links...))
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	var chans []<-chan []byte
	for i := range links {
		ch, stop, err := r.observe(r.resource(i))
		if err != nil {
			return err
		}
		defer stop()
		chans = append(chans, ch)
	}
	stamp := time.Now().UnixNano()
	payload := func(d, n int) string { return fmt.Sprintf("parallel %d d%d n%d", stamp, d, n) }
	var wg sync.WaitGroup
	errs := make(chan error, per*len(links))
	for d, l := range links {
		for n := 0; n < per; n++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.publish(in, l.ID, []byte(payload(d, n))); err != nil {
					errs <- fmt.Errorf("publish to %q: %w", r.resource(d), err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for d, ch := range chans {
		want := map[string]bool{}
		for n := 0; n < per; n++ {
			want[payload(d, n)] = true
		}
		deadline := time.After(r.cfg.Timeout)
		for len(want) > 0 {
			select {
			case p := <-ch:
				s := string(p)
				if want[s] {
					delete(want, s)
					continue
				}
				var od, on int
				var os int64
				if _, err := fmt.Sscanf(s, "parallel %d d%d n%d", &os, &od, &on); err == nil && os == stamp {
					return fmt.Errorf("destination %q got message %q meant for %q (or twice)", r.resource(d), s, r.resource(od))
				}
			case <-deadline:
				return fmt.Errorf("destination %q: %d of %d messages did not arrive within %s", r.resource(d), len(want), per, r.cfg.Timeout)
			}
		}
	}
	return nil
}
