package simse

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// profile is an activation profile of a classic CPC. Update Properties
// changes its props; those an activation uses are kept in image and load
// too.
type profile struct {
	kind, name, uri string
	image           ImageProfile // of an image profile
	load            LoadProfile  // of a load profile
	// props are its data-model properties (classes.go). Guarded by SE.mu.
	props map[string]any
}

// lparState is what an LPAR remembers of its activations and loads.
type lparState struct {
	lastProfile   string // last-used-activation-profile
	loadAddress   string // last-used-load-address
	loadParameter string // last-used-load-parameter
	loadType      string // last-used-load-type, "" for ipltype-standard
	mode          string // activation-mode, the operating mode it runs in
	// number is its partition number while it is activated.
	number int
}

// buildProfiles makes the profile objects of a classic CPC: those of the
// inventory, an image profile named after each LPAR that has none, and a
// reset profile DEFAULT if there is none.
func buildProfiles(cpc *object, c CPC) map[string][]*profile {
	out := map[string][]*profile{}
	add := func(kind, name, desc string) *profile {
		p := &profile{kind: kind, name: strings.ToUpper(name), props: classes[kind].defaults(false)}
		p.props["description"] = desc
		p.uri = cpc.uri + "/" + kind + "s/" + p.name
		out[kind] = append(out[kind], p)
		return p
	}
	images := map[string]bool{}
	for _, ip := range c.ImageProfiles {
		p := add(bcpii.KindImageProfile, ip.Name, ip.Description)
		p.image = ip
		if p.image.OperatingMode == "" {
			p.image.OperatingMode = "general"
		}
		p.image.LoadAddress = strings.ToUpper(ip.LoadAddress)
		images[p.name] = true
	}
	for _, l := range cpc.children {
		if l.kind == bcpii.KindLogicalPartition && !images[l.name] {
			p := add(bcpii.KindImageProfile, l.name, "")
			p.image = ImageProfile{Name: l.name, OperatingMode: "general"}
		}
	}
	for _, lp := range c.LoadProfiles {
		p := add(bcpii.KindLoadProfile, lp.Name, lp.Description)
		p.load = lp
		p.load.LoadAddress = strings.ToUpper(lp.LoadAddress)
	}
	for _, rp := range c.ResetProfiles {
		add(bcpii.KindResetProfile, rp.Name, rp.Description)
	}
	if len(c.ResetProfiles) == 0 {
		add(bcpii.KindResetProfile, "DEFAULT", "")
	}
	return out
}

// findProfile returns cpc's profile of kind named name, compared as the SE
// does, case-insensitively.
func findProfile(cpc *object, kind, name string) *profile {
	for _, p := range cpc.profiles[kind] {
		if strings.EqualFold(p.name, name) {
			return p
		}
	}
	return nil
}

// profileProperties are an activation profile's properties, as Get
// Properties answers them: its class's table, with its name, place and
// the values an activation uses. It runs under SE.mu.
func profileProperties(p *profile, cpc *object) map[string]any {
	props := maps.Clone(p.props)
	props["class"], props["name"], props["element-uri"], props["element-id"], props["parent"] = p.kind, p.name, p.uri, p.name, cpc.uri
	switch p.kind {
	case bcpii.KindImageProfile:
		props["load-at-activation"] = p.image.LoadAtActivation
		props["operating-mode"] = p.image.OperatingMode
		props["ipl-address"] = p.image.LoadAddress
		props["ipl-parameter"] = p.image.LoadParameter
	case bcpii.KindLoadProfile:
		props["ipl-address"] = p.load.LoadAddress
		props["ipl-parameter"] = p.load.LoadParameter
	}
	return props
}

// activation is how an activate will go, from the profile it uses.
type activation struct {
	profile string
	// loads says the LPAR ends operating, loaded from address.
	loads          bool
	address, param string
	mode           string
	// refused, when set, is why the SE fails the activation: the job
	// ends 500.263 with it as its message.
	refused string
}

// planActivation resolves the activation profile of an activate of LPAR o:
// the one the request names, else o's next-activation-profile-name. An
// image profile activates the LPAR of its name only, and loads it if it
// loads at activation (or runs in ssc or zaware mode); a load profile
// activates the LPAR with its own image profile and loads it from the load
// profile's address. Any other name is well-formed input the SE cannot
// use: the HMC accepts the request and the activation fails 500.263, as
// zhmcclient's tests against an HMC and its mock HMC report. It runs under
// SE.mu.
func planActivation(o *object, name string) activation {
	if name == "" {
		name = o.nextProfile
	}
	image := findProfile(o.parent, bcpii.KindImageProfile, o.name)
	if p := findProfile(o.parent, bcpii.KindImageProfile, name); p != nil {
		if p != image {
			return activation{refused: fmt.Sprintf(
				"The image activation profile %s is not named after logical partition %s; it activates logical partition %s only.", p.name, o.name, p.name)}
		}
		a := activation{profile: p.name, mode: p.image.OperatingMode}
		if p.image.LoadAtActivation || p.image.OperatingMode == "ssc" || p.image.OperatingMode == "zaware" {
			a.loads, a.address, a.param = true, p.image.LoadAddress, p.image.LoadParameter
		}
		return a
	}
	if p := findProfile(o.parent, bcpii.KindLoadProfile, name); p != nil && image != nil {
		return activation{profile: p.name, mode: image.image.OperatingMode, loads: true,
			address: p.load.LoadAddress, param: p.load.LoadParameter}
	}
	return activation{refused: "No image or load activation profile of the CPC is named " + strconv.Quote(name) + "."}
}

// loadAddress is the device a load of o uses: the request's, else the
// LPAR's last-used-load-address, else its image profile's. With none at
// all the request lacks a required field, 400.5. It runs under SE.mu.
func loadAddress(o *object, requested string) (string, error) {
	if requested != "" {
		return strings.ToUpper(requested), nil
	}
	if o.lpar.loadAddress != "" {
		return o.lpar.loadAddress, nil
	}
	if p := findProfile(o.parent, bcpii.KindImageProfile, o.name); p != nil && p.image.LoadAddress != "" {
		return p.image.LoadAddress, nil
	}
	return "", errNoLoadAddress
}

var errNoLoadAddress = hmcerr.ErrFieldMissing.WithMessage(
	"The field load-address is required: the logical partition has no last-used load address.")
