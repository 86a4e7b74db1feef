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
	return r.publishOne("publish-single", r.payload("s"))
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
	copy(p, r.payload("l"))
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
	// dest maps every payload to the destination it is published to.
	payloads := make([][][]byte, len(links))
	dest := map[string]int{}
	for d := range links {
		for n := 0; n < per; n++ {
			p := r.payload("p")
			payloads[d] = append(payloads[d], p)
			dest[string(p)] = d
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, per*len(links))
	for d, l := range links {
		for _, p := range payloads[d] {
			wg.Go(func() {
				if err := r.publish(in, l.ID, p); err != nil {
					errs <- fmt.Errorf("publish to %q: %w", r.resource(d), err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for d, ch := range chans {
		want := map[string]bool{}
		for _, p := range payloads[d] {
			want[string(p)] = true
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
				if od, ok := dest[s]; ok {
					if od == d {
						return fmt.Errorf("destination %q got message %q twice", r.resource(d), s)
					}
					return fmt.Errorf("destination %q got message %q meant for %q", r.resource(d), s, r.resource(od))
				}
			case <-deadline:
				return fmt.Errorf("destination %q: %d of %d messages did not arrive within %s", r.resource(d), len(want), per, r.cfg.Timeout)
			}
		}
	}
	return nil
}
