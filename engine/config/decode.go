package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/customdecode"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// DecodeFields evaluates the resource's fields (its type's Fields, r.Spec)
// in ctx: the values and diagnostics of hcldec.Decode(r.Body, r.Spec,
// ctx), as a map rather than an object, and without what Decode does
// again on every call although it depends on the resource alone: derive
// the body's schema from the spec, check the body's structure against it
// and build the object's type. Those were most of what evaluating a
// host's resources allocated (docs/performance.md, "Controller memory").
// The body's structure was checked once, when the site was loaded
// (decodeResource); its attributes are kept from then.
//
// A field the body does not set is null; defaults are the caller's.
func (r *Resource) DecodeFields(ctx *hcl.EvalContext) (map[string]cty.Value, hcl.Diagnostics) {
	attrs := r.attrs
	var diags hcl.Diagnostics
	if attrs == nil {
		// Not loaded by decodeResource (built by hand): check the body
		// now, as hcldec.Decode would.
		content, d := r.Body.Content(hcldec.ImpliedSchema(r.Spec))
		diags = append(diags, d...)
		attrs = content.Attributes
	}
	vals := make(map[string]cty.Value, len(r.Spec))
	for name, spec := range r.Spec {
		s, ok := spec.(*hcldec.AttrSpec)
		if !ok {
			// Not a spec FieldSpec makes: let hcldec decode the body.
			return r.decodeWithHCLDec(ctx)
		}
		var d hcl.Diagnostics
		vals[name], d = decodeAttr(s, attrs[s.Name], ctx)
		diags = append(diags, d...)
	}
	return vals, diags
}

// decodeAttr is hcldec's AttrSpec decode of attr (nil: not set).
func decodeAttr(s *hcldec.AttrSpec, attr *hcl.Attribute, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if attr == nil {
		// A missing required attribute was reported when the body was
		// checked.
		return cty.NullVal(s.Type.WithoutOptionalAttributesDeep()), nil
	}
	if decodeFn := customdecode.CustomExpressionDecoderForType(s.Type); decodeFn != nil {
		v, diags := decodeFn(attr.Expr, ctx)
		if v == cty.NilVal {
			v = cty.UnknownVal(s.Type.WithoutOptionalAttributesDeep())
		}
		return v, diags
	}
	val, diags := attr.Expr.Value(ctx)
	conv, err := convert.Convert(val, s.Type)
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Incorrect attribute value type",
			Detail:      fmt.Sprintf("Inappropriate value for attribute %q: %s.", s.Name, err.Error()),
			Subject:     attr.Expr.Range().Ptr(),
			Context:     hcl.RangeBetween(attr.NameRange, attr.Expr.Range()).Ptr(),
			Expression:  attr.Expr,
			EvalContext: ctx,
		})
		return cty.UnknownVal(s.Type.WithoutOptionalAttributesDeep()), diags
	}
	return conv, diags
}

// decodeWithHCLDec is DecodeFields through hcldec itself.
func (r *Resource) decodeWithHCLDec(ctx *hcl.EvalContext) (map[string]cty.Value, hcl.Diagnostics) {
	obj, diags := hcldec.Decode(r.Body, r.Spec, ctx)
	vals := make(map[string]cty.Value, len(r.Spec))
	if obj.IsNull() || !obj.IsKnown() || !obj.Type().IsObjectType() {
		return vals, diags
	}
	for name := range r.Spec {
		if obj.Type().HasAttribute(name) {
			vals[name] = obj.GetAttr(name)
		}
	}
	return vals, diags
}
