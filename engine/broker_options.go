package engine

import (
	"errors"
	"slices"
	"sync"

	"github.com/wampd/wampd/codec"
)

// pptOptionKeys are the payload passthru attributes a PUBLISH may carry; the
// broker forwards them to EVENT.Details untouched (ppt_scheme first: its
// presence is what turns the mode on).
var pptOptionKeys = [4]string{"ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"}

// pubOptions is PUBLISH.Options as the broker uses them, read in one pass
// over the raw dict. It lives on the publisher's stack; filter comes from a
// pool and only when a black/whitelist option is present.
type pubOptions struct {
	ack        bool
	excludeMe  bool
	discloseMe bool
	retain     bool
	filter     *subFilter
	ppt        [4]codec.Raw // raw values pointing into the PUBLISH
}

var (
	errBadOption = errors.New("invalid PUBLISH option")
	errBadList   = errors.New("black/whitelist option is not a list of the right type")
	errBadPPT    = errors.New("ppt_* options must be strings")
)

// parse reads the options the broker knows; unknown keys are ignored.
func (o *pubOptions) parse(d codec.Dict) error {
	o.excludeMe = true // spec default
	if len(d.Raw.Bytes) == 0 {
		return nil
	}
	var err error // the first bad option; the walk goes on to find acknowledge
	walkErr := d.Raw.EachField(func(key []byte, v codec.Raw) bool {
		var e error
		switch string(key) {
		case "acknowledge":
			o.ack, e = optBool(v)
		case "exclude_me":
			o.excludeMe, e = optBool(v)
		case "disclose_me":
			o.discloseMe, e = optBool(v)
		case "retain":
			o.retain, e = optBool(v)
		case "eligible":
			e = o.filterOf().parseIDs(0, v)
		case "exclude":
			e = o.filterOf().parseIDs(1, v)
		case "eligible_authid":
			e = o.filterOf().parseStrs(0, v)
		case "exclude_authid":
			e = o.filterOf().parseStrs(1, v)
		case "eligible_authrole":
			e = o.filterOf().parseStrs(2, v)
		case "exclude_authrole":
			e = o.filterOf().parseStrs(3, v)
		case "ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid":
			if _, serr := v.Str(nil); serr != nil {
				e = errBadPPT
				break
			}
			for i, k := range pptOptionKeys {
				if k == string(key) {
					o.ppt[i] = v
				}
			}
		}
		if err == nil {
			err = e
		}
		return true
	})
	if err == nil && walkErr != nil {
		err = errBadOption
	}
	if err == nil && o.ppt[0].Bytes == nil {
		// Without a scheme there is no passthru mode: drop stray attributes.
		o.ppt = [4]codec.Raw{}
	}
	if o.filter != nil {
		slices.Sort(o.filter.ids[0])
		slices.Sort(o.filter.ids[1])
	}
	return err
}

func optBool(v codec.Raw) (bool, error) {
	b, err := v.Bool()
	if err != nil {
		return false, errBadOption
	}
	return b, nil
}

func (o *pubOptions) filterOf() *subFilter {
	if o.filter == nil {
		o.filter = filterPool.Get().(*subFilter)
	}
	return o.filter
}

// release returns the filter to its pool.
func (o *pubOptions) release() {
	if f := o.filter; f != nil {
		o.filter = nil
		f.reset()
		filterPool.Put(f)
	}
}

// subFilter is a publication's subscriber black/whitelist. has tells which
// options were present: an empty eligible list admits nobody, an absent one
// everybody. ids are sorted; strs point into the PUBLISH (or, in a stored
// event, into memory the event owns).
type subFilter struct {
	has  [6]bool       // eligible, exclude, eligible_authid, exclude_authid, eligible_authrole, exclude_authrole
	ids  [2][]codec.ID // eligible, exclude
	strs [4][][]byte   // eligible_authid, exclude_authid, eligible_authrole, exclude_authrole
}

var filterPool = sync.Pool{New: func() any { return new(subFilter) }}

func (f *subFilter) reset() {
	f.has = [6]bool{}
	for i := range f.ids {
		f.ids[i] = f.ids[i][:0]
	}
	for i := range f.strs {
		clear(f.strs[i]) // do not pin the input buffer
		f.strs[i] = f.strs[i][:0]
	}
}

func (f *subFilter) parseIDs(i int, v codec.Raw) error {
	f.has[i] = true
	var bad bool
	err := v.EachElem(func(e codec.Raw) bool {
		id, err := e.Uint()
		if err != nil {
			bad = true
			return false
		}
		f.ids[i] = append(f.ids[i], id)
		return true
	})
	if err != nil || bad {
		return errBadList
	}
	return nil
}

func (f *subFilter) parseStrs(i int, v codec.Raw) error {
	f.has[2+i] = true
	var bad bool
	err := v.EachElem(func(e codec.Raw) bool {
		s, err := e.Str(nil)
		if err != nil {
			bad = true
			return false
		}
		// A JSON string with escapes would be unescaped into a fresh
		// buffer; the common case points into the PUBLISH.
		f.strs[i] = append(f.strs[i], s)
		return true
	})
	if err != nil || bad {
		return errBadList
	}
	return nil
}

// hasSessionLists reports whether the filter names session IDs: such
// events are not kept in the history (IDs mean nothing to later sessions).
func (f *subFilter) hasSessionLists() bool { return f.has[0] || f.has[1] }

// allows applies the spec's six rules: every whitelist present must contain
// the subscriber, no blacklist present may.
func (f *subFilter) allows(id codec.ID, authid, authrole string) bool {
	if f.has[0] && !containsID(f.ids[0], id) {
		return false
	}
	if f.has[1] && containsID(f.ids[1], id) {
		return false
	}
	if f.has[2] && !containsStr(f.strs[0], authid) {
		return false
	}
	if f.has[3] && containsStr(f.strs[1], authid) {
		return false
	}
	if f.has[4] && !containsStr(f.strs[2], authrole) {
		return false
	}
	if f.has[5] && containsStr(f.strs[3], authrole) {
		return false
	}
	return true
}

// clone copies f into memory it owns (for stored events).
func (f *subFilter) clone() *subFilter {
	c := &subFilter{has: f.has}
	for i := range f.ids {
		c.ids[i] = slices.Clone(f.ids[i])
	}
	for i := range f.strs {
		for _, s := range f.strs[i] {
			c.strs[i] = append(c.strs[i], slices.Clone(s))
		}
	}
	return c
}

func containsID(sorted []codec.ID, id codec.ID) bool {
	_, ok := slices.BinarySearch(sorted, id)
	return ok
}

func containsStr(list [][]byte, s string) bool {
	for _, e := range list {
		if string(e) == s {
			return true
		}
	}
	return false
}
